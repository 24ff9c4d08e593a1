using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Persistence;

/// <summary>Creates the provider's DbContext. Options are built once; a context lives for one transaction.</summary>
public sealed class SagasDbFactory
{
    private readonly Func<SagasDbContext> _create;

    /// <param name="cipher">Encrypts the payload columns; null stores them as plain JSON.</param>
    public SagasDbFactory(DatabaseOptions options, string connectionString, PayloadCipher? cipher = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Provider = options.Provider;
        Concurrency = options.Concurrency;
        switch (options.Provider)
        {
            case DatabaseProvider.Sqlite:
                var sqlite = WithCipherKey(new DbContextOptionsBuilder<SqliteSagasDbContext>().UseSqlite(connectionString), cipher);
                _create = () => new SqliteSagasDbContext(sqlite, cipher);
                break;
            case DatabaseProvider.Postgres:
                var npgsql = WithCipherKey(new DbContextOptionsBuilder<PostgresSagasDbContext>().UseNpgsql(connectionString), cipher);
                _create = () => new PostgresSagasDbContext(npgsql, cipher);
                break;
            case DatabaseProvider.SqlServer:
                var sqlServer = WithCipherKey(new DbContextOptionsBuilder<SqlServerSagasDbContext>().UseSqlServer(connectionString), cipher);
                _create = () => new SqlServerSagasDbContext(sqlServer, cipher);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Provider, "Sagas:Database:Provider must be Sqlite, Postgres or SqlServer");
        }
    }

    public DatabaseProvider Provider { get; }

    public ConcurrencyMode Concurrency { get; }

    public SagasDbContext Create() => _create();

    /// <summary>Without a cipher the default model cache is kept as it was.</summary>
    private static DbContextOptions<T> WithCipherKey<T>(DbContextOptionsBuilder<T> builder, PayloadCipher? cipher)
        where T : DbContext =>
        cipher is null ? builder.Options : builder.ReplaceService<IModelCacheKeyFactory, CipherModelCacheKeyFactory>().Options;
}
