using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Sagas.Participants;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Creates the provider's DbContext. Options are built once; a context lives for one transaction. Contexts are
/// pooled (EF resets a returned one), so a message does not pay for building a context's services each time.
/// </summary>
public sealed class SagasDbFactory
{
    private const int PoolSize = 256;

    private readonly Func<SagasDbContext> _create;

    /// <param name="cipher">Encrypts the payload columns; null stores them as plain JSON.</param>
    public SagasDbFactory(DatabaseOptions options, string connectionString, PayloadCipher? cipher = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Provider = options.Provider;
        Concurrency = options.Concurrency;
        MaxBatch = options.Provider == DatabaseProvider.Postgres ? Math.Max(1, options.MaxBatch) : 1;
        BatchExecutors = Math.Max(1, options.BatchExecutors);
        if (options.BatchWait < TimeSpan.Zero || options.BatchWait > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.BatchWait, "Sagas:Database:BatchWait must be between 00:00:00 and 00:00:01");
        }

        BatchWait = TimeSpan.FromMilliseconds(Math.Ceiling(options.BatchWait.TotalMilliseconds));
        DirectWrites = options.Provider == DatabaseProvider.Postgres && options.DirectWrites;
        OneTripBatches = DirectWrites && Concurrency == ConcurrencyMode.Optimistic && MaxBatch > 1;
        StateCache = OneTripBatches ? Math.Max(0, options.StateCache) : 0;
        switch (options.Provider)
        {
            case DatabaseProvider.Sqlite:
                var sqlite = new PooledDbContextFactory<SqliteSagasDbContext>(
                    PayloadCipherExtension.Apply(Quiet(new DbContextOptionsBuilder<SqliteSagasDbContext>().UseSqlite(connectionString)), cipher), PoolSize);
                _create = sqlite.CreateDbContext;
                break;
            case DatabaseProvider.Postgres:
                var npgsql = new PooledDbContextFactory<PostgresSagasDbContext>(
                    PayloadCipherExtension.Apply(
                        Quiet(new DbContextOptionsBuilder<PostgresSagasDbContext>().UseNpgsql(ParticipantDatabase.TunedConnectionString(connectionString))), cipher),
                    PoolSize);
                _create = npgsql.CreateDbContext;
                break;
            case DatabaseProvider.SqlServer:
                var sqlServer = new PooledDbContextFactory<SqlServerSagasDbContext>(
                    PayloadCipherExtension.Apply(Quiet(new DbContextOptionsBuilder<SqlServerSagasDbContext>().UseSqlServer(connectionString)), cipher), PoolSize);
                _create = sqlServer.CreateDbContext;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Provider, "Sagas:Database:Provider must be Sqlite, Postgres or SqlServer");
        }
    }

    public DatabaseProvider Provider { get; }

    /// <summary>
    /// A failed statement or save is logged by EF at Debug rather than Error. The coordinator expects some to fail: a
    /// duplicate reply or start is found by its key colliding, and a concurrent transition by its version check; both
    /// are retried. Failures that last surface as exceptions, which the message retry and the API log.
    /// </summary>
    private static DbContextOptionsBuilder<T> Quiet<T>(DbContextOptionsBuilder<T> builder)
        where T : DbContext =>
        builder.ConfigureWarnings(w => w.Log((CoreEventId.SaveChangesFailed, LogLevel.Debug), (RelationalEventId.CommandError, LogLevel.Debug)));

    public ConcurrencyMode Concurrency { get; }

    /// <summary>The most transitions applied in one transaction: <see cref="DatabaseOptions.MaxBatch"/> on PostgreSQL, else 1.</summary>
    public int MaxBatch { get; }

    /// <summary>Batches in flight at once (<see cref="DatabaseOptions.BatchExecutors"/>).</summary>
    public int BatchExecutors { get; }

    /// <summary>How long a batch that is not full may wait for more (<see cref="DatabaseOptions.BatchWait"/>), in whole milliseconds.</summary>
    public TimeSpan BatchWait { get; }

    /// <summary>Transitions write their rows with <see cref="PostgresBatchWriter"/> (<see cref="DatabaseOptions.DirectWrites"/>, PostgreSQL only).</summary>
    public bool DirectWrites { get; }

    /// <summary>
    /// Group-commit batches read without a transaction and write and commit in one round trip (optimistic concurrency
    /// with direct writes: every saga row is written under its version check).
    /// </summary>
    public bool OneTripBatches { get; }

    /// <summary>Running sagas kept as last committed (<see cref="DatabaseOptions.StateCache"/>); 0 unless <see cref="OneTripBatches"/>.</summary>
    public int StateCache { get; }

    /// <summary>
    /// A context for one unit of work. EF's automatic savepoint around <c>SaveChanges</c> inside an explicit
    /// transaction is turned off: a failed save here always rolls the whole transaction back and retries it, so
    /// the savepoint would only cost two round trips per transition.
    /// </summary>
    public SagasDbContext Create()
    {
        var db = _create();
        db.Database.AutoSavepointsEnabled = false;
        return db;
    }
}
