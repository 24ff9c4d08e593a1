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
        EnsureSupportedProvider(db);
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

    /// <summary>
    /// Refuses a provider the barrier was not built for. Its exactly-once rests on what SQLite and PostgreSQL do: the
    /// <c>ON CONFLICT</c> claim, their unique-violation and transient error codes, SQLite's single writer. On another
    /// database the first duplicate delivery would fail instead of being answered from its row.
    /// </summary>
    public static void EnsureSupportedProvider(DbContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        if (!db.Database.IsSqlite() && !db.Database.IsNpgsql())
        {
            throw new NotSupportedException(
                $"{db.GetType().Name} uses the database provider {db.Database.ProviderName}. Saga participants run on SQLite (UseSagasSqlite) or PostgreSQL (UseSagasPostgres or UseNpgsql).");
        }
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

    /// <summary>PostgreSQL, with the connection settings of <see cref="TunedConnectionString"/>.</summary>
    public static DbContextOptionsBuilder UseSagasPostgres(this DbContextOptionsBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.UseNpgsql(TunedConnectionString(connectionString));
    }

    /// <summary>
    /// Two Npgsql defaults that cost a busy PostgreSQL most of its CPU, changed unless the connection string sets them:
    /// <list type="bullet">
    /// <item>The pool resets a connection's session (<c>DISCARD ALL</c>) each time it is handed out again: a statement,
    /// and a transaction of its own, for every unit of work. Nothing here leaves session state behind (no temporary
    /// tables, session settings or advisory locks), so the reset is skipped.</item>
    /// <item>Statements are parsed and planned by the server on every execution. The same few statements run for every
    /// message, so Npgsql prepares those it sees twice (<c>Max Auto Prepare</c>), and the server reuses the plan.
    /// A pooler in transaction mode that cannot keep prepared statements needs <c>Max Auto Prepare=0</c>.</item>
    /// </list>
    /// </summary>
    public static string TunedConnectionString(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!Mentions(connectionString, "resetonclose"))
        {
            builder.NoResetOnClose = true;
        }

        if (!Mentions(connectionString, "autoprepare"))
        {
            builder.MaxAutoPrepare = AutoPreparedStatements;
            builder.AutoPrepareMinUsages = 2;
        }

        return builder.ConnectionString;
    }

    /// <summary>Statements prepared per connection: the hot paths use a few dozen shapes (EF batches vary by row count).</summary>
    private const int AutoPreparedStatements = 100;

    /// <summary>Whether a keyword appears in any of its spellings ("Max Auto Prepare", "MaxAutoPrepare", "max_auto_prepare").</summary>
    private static bool Mentions(string connectionString, string keyword) =>
        connectionString.Replace(" ", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).Contains(keyword, StringComparison.OrdinalIgnoreCase);

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
