using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;
using Sagas.Participants;
using Sagas.Participants.Payloads;
using Xunit;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// A fresh, migrated coordinator database with order-fast registered, for tests that drive <see cref="SagaProcessor"/>s
/// directly (no host, no broker). Disposing closes its pooled connections at once (tests run in parallel on one
/// server) and deletes a SQLite file.
/// </summary>
public sealed class StandaloneStore : IDisposable
{
    private readonly string _connection;

    private StandaloneStore(DatabaseProvider provider, string connection, SagasDbFactory factory)
    {
        Provider = provider;
        _connection = connection;
        Factory = factory;
    }

    public DatabaseProvider Provider { get; }

    public SagasDbFactory Factory { get; }

    /// <summary>The PostgreSQL connection string, for tests that read the server's own statistics.</summary>
    public string Connection => _connection;

    public static async Task<StandaloneStore> CreateAsync(
        DatabaseProvider provider, ConcurrencyMode mode = ConcurrencyMode.Optimistic, PayloadCipher? cipher = null, Action<DatabaseOptions>? configure = null)
    {
        string connection;
        if (provider == DatabaseProvider.Postgres)
        {
            var (_, postgres) = await TestServices.GetAsync();
            connection = new NpgsqlConnectionStringBuilder(postgres) { Database = "sagas_st_" + Guid.NewGuid().ToString("N")[..8] }.ConnectionString;
        }
        else
        {
            connection = $"Data Source={Path.Combine(Path.GetTempPath(), $"sagas-store-{Guid.NewGuid():N}.db")}";
        }

        var options = new DatabaseOptions { Provider = provider, Concurrency = mode };
        configure?.Invoke(options);
        var factory = new SagasDbFactory(options, connection, cipher);
        var store = new StandaloneStore(provider, connection, factory);
        await using (var db = factory.Create())
        {
            await db.Database.MigrateAsync();
        }

        var register = await store.NewRegistry().RegisterAsync(TestDefinitions.OrderFast, default);
        Assert.Equal(RegisterOutcome.Registered, register.Outcome);
        return store;
    }

    public DefinitionRegistry NewRegistry() => new(Factory, TimeProvider.System);

    /// <summary>A processor with its own registry and in-process locks, as one coordinator instance has.</summary>
    public SagaProcessor NewProcessor(IOutboxSignal outbox) =>
        new(Factory, NewRegistry(), outbox, new TimerSignal(), new SagaLocks(Factory),
            new OutgoingPayloads(Sagas.Participants.Payloads.PayloadCodec.Off, TimeProvider.System), TimeProvider.System, NullLogger<SagaProcessor>.Instance);

    /// <summary>
    /// Closes the store's idle PostgreSQL connections. Their server processes exit, which also publishes their pending
    /// table statistics at once (an idle backend may otherwise hold them back for up to 10 s).
    /// </summary>
    public void ClearPostgresPool()
    {
        // The factory tunes the connection string; clear the pool of the string it really uses.
        using var connection = new NpgsqlConnection(ParticipantDatabase.TunedConnectionString(_connection));
        NpgsqlConnection.ClearPool(connection);
    }

    public void Dispose()
    {
        if (Provider == DatabaseProvider.Postgres)
        {
            ClearPostgresPool();

            // Each store has a database of its own: drop it, or every run leaves dozens behind on a shared server.
            var builder = new NpgsqlConnectionStringBuilder(_connection);
            var database = builder.Database;
            builder.Database = "postgres";
            using var admin = new NpgsqlConnection(builder.ConnectionString);
            admin.Open();
            using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", admin);
            drop.ExecuteNonQuery();
            return;
        }

        using (var sqlite = new SqliteConnection(_connection))
        {
            SqliteConnection.ClearPool(sqlite);
        }

        File.Delete(new SqliteConnectionStringBuilder(_connection).DataSource);
    }
}
