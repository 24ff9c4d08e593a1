using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

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

    /// <summary>PostgreSQL, with the pool's per-use session reset turned off (see <see cref="WithoutSessionReset"/>).</summary>
    public static DbContextOptionsBuilder UseSagasPostgres(this DbContextOptionsBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.UseNpgsql(WithoutSessionReset(connectionString));
    }

    /// <summary>
    /// Npgsql resets a pooled connection's session (<c>DISCARD ALL</c>) each time it is handed out again: a statement,
    /// and a transaction of its own, for every unit of work. Nothing here leaves session state behind (no temporary
    /// tables, session settings, advisory locks or prepared statements), so the reset is skipped unless the
    /// connection string says otherwise.
    /// </summary>
    public static string WithoutSessionReset(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!connectionString.Contains("reset on close", StringComparison.OrdinalIgnoreCase))
        {
            builder.NoResetOnClose = true;
        }

        return builder.ConnectionString;
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
