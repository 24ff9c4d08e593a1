using Microsoft.EntityFrameworkCore;
using Sagas.Participants;

namespace Sagas.Coordinator.Persistence;

/// <summary>Creates the provider's DbContext. Options are built once; a context lives for one transaction.</summary>
public sealed class SagasDbFactory
{
    private readonly Func<SagasDbContext> _create;

    public SagasDbFactory(DatabaseOptions options, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(options);
        Provider = options.Provider;
        Concurrency = options.Concurrency;
        switch (options.Provider)
        {
            case DatabaseProvider.Sqlite:
                var sqlite = new DbContextOptionsBuilder<SqliteSagasDbContext>().UseSqlite(connectionString).Options;
                _create = () => new SqliteSagasDbContext(sqlite);
                break;
            case DatabaseProvider.Postgres:
                var npgsql = new DbContextOptionsBuilder<PostgresSagasDbContext>().UseNpgsql(ParticipantDatabase.WithoutSessionReset(connectionString)).Options;
                _create = () => new PostgresSagasDbContext(npgsql);
                break;
            case DatabaseProvider.SqlServer:
                var sqlServer = new DbContextOptionsBuilder<SqlServerSagasDbContext>().UseSqlServer(connectionString).Options;
                _create = () => new SqlServerSagasDbContext(sqlServer);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Provider, "Sagas:Database:Provider must be Sqlite, Postgres or SqlServer");
        }
    }

    public DatabaseProvider Provider { get; }

    public ConcurrencyMode Concurrency { get; }

    public SagasDbContext Create() => _create();
}
