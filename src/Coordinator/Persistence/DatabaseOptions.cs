namespace Sagas.Coordinator.Persistence;

/// <summary>Which database stores the sagas. Bound from <see cref="Section"/>; the connection string is <c>ConnectionStrings:Sagas</c>.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Sagas:Database";
    public const string ConnectionStringName = "Sagas";

    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Apply migrations at start-up. On by default; turn off in production and run <c>Sagas.Coordinator migrate</c> instead.</summary>
    public bool MigrateOnStart { get; set; } = true;

    /// <summary>Optimistic (version check and retry) or Pessimistic (row lock) concurrency between coordinator instances.</summary>
    public ConcurrencyMode Concurrency { get; set; } = ConcurrencyMode.Optimistic;

    /// <summary>
    /// PostgreSQL only: the most starts and replies (of different sagas) applied in one transaction when they arrive
    /// together. Each saga's change stays all-or-nothing; under load a batch shares one commit and its round trips.
    /// 1 turns batching off.
    /// </summary>
    public int MaxBatch { get; set; } = 32;

    /// <summary>
    /// PostgreSQL only: batches in flight at once. Fewer means more messages wait for a running batch and join the
    /// next one (fewer commits); more means less waiting. Since a batch takes one round trip, one executor gave the
    /// least CPU per saga on 2 cores, at 180 sagas/s and at 128 in flight (docs/benchmarks.md, fourteenth session).
    /// </summary>
    public int BatchExecutors { get; set; } = 1;

    /// <summary>
    /// PostgreSQL only: how long a batch that is not full waits for more transitions to join it before it is written,
    /// rounded up to whole milliseconds, at most one second. It waits only when the transitions expected to join are
    /// at least half a one and half as many as the batch holds (so neither a lone message nor a large batch waits),
    /// and only while waits gather company (see <see cref="Sagas.Participants.BatchWaitPolicy"/>). Fewer, larger
    /// commits cost the database less CPU per saga, for up to this much more latency per transition. Zero turns the
    /// wait off.
    /// </summary>
    public TimeSpan BatchWait { get; set; } = TimeSpan.FromMilliseconds(3);

    /// <summary>
    /// PostgreSQL only: transitions write their rows with statements built once from the model and sent as one batch,
    /// saga rows first, instead of through EF's SaveChanges (same rows, same checks, far fewer allocations). False
    /// uses SaveChanges.
    /// </summary>
    public bool DirectWrites { get; set; } = true;

    /// <summary>
    /// PostgreSQL, optimistic, with direct writes and batching: how many running sagas this instance keeps as it last
    /// committed them, so that their next reply is applied without reading them first (see <see cref="SagaStateCache"/>).
    /// 0 turns it off.
    /// </summary>
    public int StateCache { get; set; } = 10_000;
}

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
    SqlServer,
}

public enum ConcurrencyMode
{
    Optimistic,
    Pessimistic,
}
