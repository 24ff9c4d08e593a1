using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Sagas.Participants;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Creates the provider's DbContext. Options are built once; a context lives for one transaction. Contexts are
/// pooled (EF resets a returned one), so a message does not pay for building a context's services each time.
/// </summary>
public sealed class SagasDbFactory
{
    private const int PoolSize = 256;

    private readonly Func<SagasDbContext> _create;

    public SagasDbFactory(DatabaseOptions options, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(options);
        Provider = options.Provider;
        Concurrency = options.Concurrency;
        switch (options.Provider)
        {
            case DatabaseProvider.Sqlite:
                var sqlite = new PooledDbContextFactory<SqliteSagasDbContext>(
                    new DbContextOptionsBuilder<SqliteSagasDbContext>().UseSqlite(connectionString).Options, PoolSize);
                _create = sqlite.CreateDbContext;
                break;
            case DatabaseProvider.Postgres:
                var npgsql = new PooledDbContextFactory<PostgresSagasDbContext>(
                    new DbContextOptionsBuilder<PostgresSagasDbContext>().UseNpgsql(ParticipantDatabase.WithoutSessionReset(connectionString)).Options, PoolSize);
                _create = npgsql.CreateDbContext;
                break;
            case DatabaseProvider.SqlServer:
                var sqlServer = new PooledDbContextFactory<SqlServerSagasDbContext>(
                    new DbContextOptionsBuilder<SqlServerSagasDbContext>().UseSqlServer(connectionString).Options, PoolSize);
                _create = sqlServer.CreateDbContext;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Provider, "Sagas:Database:Provider must be Sqlite, Postgres or SqlServer");
        }
    }

    public DatabaseProvider Provider { get; }

    public ConcurrencyMode Concurrency { get; }

    public SagasDbContext Create() => _create();
}
