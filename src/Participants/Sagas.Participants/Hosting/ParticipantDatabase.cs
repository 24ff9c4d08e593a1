using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace Sagas.Participants;

/// <summary>Schema creation and provider set-up shared by every participant.</summary>
public static class ParticipantDatabase
{
    private const int BusyTimeoutMs = 10_000;

    /// <summary>Creates the database and schema if missing (PostgreSQL: the database too), enables WAL on SQLite, then seeds.</summary>
    public static async Task InitializeAsync<TDb>(IServiceProvider services, CancellationToken cancellationToken = default)
        where TDb : ParticipantDbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDb>();
        if (db.Database.IsSqlite())
        {
            var path = new SqliteConnectionStringBuilder(db.Database.GetConnectionString()).DataSource;
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }
        }

        await db.Database.EnsureCreatedAsync(cancellationToken);
        if (db.Database.IsSqlite())
        {
            // WAL lets readers run beside the single writer; the setting is stored in the file.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }

        await db.SeedAsync(cancellationToken);
    }

    /// <summary>SQLite file with a busy timeout, so writers from other processes wait instead of failing.</summary>
    public static DbContextOptionsBuilder UseSagasSqlite(this DbContextOptionsBuilder builder, string path)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var connection = new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(path),
            Pooling = true,
            DefaultTimeout = BusyTimeoutMs / 1000,
        };
        return builder.UseSqlite(connection.ToString()).AddInterceptors(BusyTimeoutInterceptor.Instance);
    }

    private sealed class BusyTimeoutInterceptor : DbConnectionInterceptor
    {
        public static readonly BusyTimeoutInterceptor Instance = new();

        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

        public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Apply(connection);
            return Task.CompletedTask;
        }

        private static void Apply(DbConnection connection)
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"PRAGMA busy_timeout={BusyTimeoutMs};";
            command.ExecuteNonQuery();
        }
    }
}
