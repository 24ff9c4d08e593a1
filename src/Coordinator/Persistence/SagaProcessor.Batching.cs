using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;
using Sagas.Participants;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Group commit (PostgreSQL): starts and replies of different sagas that arrive together are applied in one
/// transaction, so under load they share its round trips and its commit. Each saga's change is still all-or-nothing,
/// and a batch is just a way of running several first tries at once: when it fails as a whole (a duplicate, a
/// concurrent transition on another instance, the database going away), every item in it goes on alone, as a second
/// try that looks first.
/// <para>
/// Batches are run by executor threads of their own (<see cref="DatabaseOptions.BatchExecutors"/>), started on demand
/// and ended after a while with nothing to do. A thread of its own can wait a precise millisecond for a batch to fill
/// (<see cref="DatabaseOptions.BatchWait"/>), where a timer on the thread pool takes two or three. It waits only when
/// transitions arrive often enough for the wait to add a good part to the batch (<see cref="BatchWaitPolicy"/>), so
/// neither a lone message nor a large batch waits.
/// </para>
/// </summary>
public sealed partial class SagaProcessor
{
    /// <summary>How long an executor thread with nothing to do stays for the next message before it ends.</summary>
    private static readonly TimeSpan ExecutorIdle = TimeSpan.FromSeconds(2);

    private readonly ConcurrentQueue<Pending> _pending = new();
    private readonly SagaStateCache _cache = new(dbFactory.StateCache, clock);

    /// <summary>
    /// Set when work is queued while an executor is idle. Spin count 0: a waiting executor blocks at once instead of
    /// spinning and yielding its core first, which on a small machine shared with the broker and the database costs
    /// more than the wake-up it might save (docs/benchmarks.md, twenty-fourth session).
    /// </summary>
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private int _executors;
    private int _idleExecutors;
    private long _waits;

    /// <summary>Sagas whose next event skips the read (tests).</summary>
    internal int CachedSagas => _cache.Count;

    /// <summary>Batches that waited for more transitions to join them (tests).</summary>
    internal long BatchWaits => Interlocked.Read(ref _waits);

    /// <summary>
    /// Queues the first try of a start or an event; the result is null when the batch failed as a whole. The caller
    /// holds the saga's lock, so no batch holds two items of one saga.
    /// </summary>
    private async Task<object?> BatchAsync(Pending item, CancellationToken ct)
    {
        _pending.Enqueue(item);
        if (Volatile.Read(ref _idleExecutors) > 0)
        {
            // An executor waits for work (it looks at the queue after saying so and clearing the event): wake it. A
            // spare wake-up only makes an executor look at an empty queue once more.
            _wake.Set();
        }
        else if (TryEnterExecutor())
        {
            // Unsafe: without this caller's execution context (its saga's log scope and trace), which would otherwise
            // stay with the thread and every batch it runs.
            new Thread(RunExecutor) { IsBackground = true, Name = "sagas-group-commit" }.UnsafeStart();
        }

        return await item.Done.Task.WaitAsync(ct);
    }

    private bool TryEnterExecutor()
    {
        while (true)
        {
            var running = Volatile.Read(ref _executors);
            // Batches in flight at once, at most; more messages than that queue for the next batches.
            if (running >= dbFactory.BatchExecutors)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _executors, running + 1, running) == running)
            {
                return true;
            }
        }
    }

    private void RunExecutor()
    {
        var batch = new List<Pending>(Math.Min(dbFactory.MaxBatch, 16));
        var policy = new BatchWaitPolicy(dbFactory.BatchWait);
        using var done = new ManualResetEventSlim(false, spinCount: 0);
        Action setDone = done.Set;
        do
        {
            while (NextBatch(batch, policy))
            {
                try
                {
                    // The batch's own I/O is asynchronous; this thread only waits for it, so the pool's threads are not
                    // held. It blocks without spinning first, unlike Task.Wait (see _wake).
                    var execution = ExecuteBatchAsync(batch);
                    if (!execution.IsCompleted)
                    {
                        done.Reset();
                        execution.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(setDone);
                        done.Wait();
                    }

                    execution.GetAwaiter().GetResult();
                }
                catch (Exception ex)
                {
                    // ExecuteBatchAsync settles its own failures; anything else must not end the process with this
                    // thread. Items not settled yet go on alone, as after a failed batch.
                    logger.LogError(ex, "A group-commit batch of {Count} transitions failed unexpectedly", batch.Count);
                    foreach (var item in batch)
                    {
                        item.Done.TrySetResult(null);
                    }
                }
            }

            Interlocked.Decrement(ref _executors);

            // An item queued after this executor stopped waiting and before the decrement found every executor busy:
            // look again, so it is not stranded.
        }
        while (!_pending.IsEmpty && TryEnterExecutor());
    }

    /// <summary>The next batch, after waiting for work (false: none came for <see cref="ExecutorIdle"/>, so the thread ends).</summary>
    private bool NextBatch(List<Pending> batch, BatchWaitPolicy policy)
    {
        batch.Clear();
        while (true)
        {
            Take(batch);
            if (batch.Count > 0)
            {
                break;
            }

            Interlocked.Increment(ref _idleExecutors);

            // Cleared before the queue is looked at: an item queued after this look sets it again.
            _wake.Reset();
            var woken = !_pending.IsEmpty || _wake.Wait(ExecutorIdle);
            Interlocked.Decrement(ref _idleExecutors);
            if (!woken)
            {
                return false;
            }
        }

        if (policy.ShouldWait(batch.Count, Stopwatch.GetTimestamp()) && batch.Count < dbFactory.MaxBatch)
        {
            Interlocked.Increment(ref _waits);
            Thread.Sleep(dbFactory.BatchWait);
            var before = batch.Count;
            Take(batch);
            policy.Joined(batch.Count - before);
        }

        return true;
    }

    private void Take(List<Pending> batch)
    {
        while (batch.Count < dbFactory.MaxBatch && _pending.TryDequeue(out var item))
        {
            batch.Add(item);
        }
    }

    private async Task ExecuteBatchAsync(List<Pending> batch)
    {
        // Rows are touched in id order, as every batch does, so two instances' batches do not deadlock on each other.
        batch.Sort((a, b) => a.SagaId.CompareTo(b.SagaId));
        var committed = false;
        var fromCache = false;
        try
        {
            await using var db = dbFactory.Create();

            // Optimistic, with the batch writer: no transaction around the reads. Every saga row is written under its
            // version check, so what was read is still what the batch changes, or the batch fails; and the writes and
            // their commit go in one round trip. Pessimistic: the rows are locked as they are read, in a transaction.
            await using var tx = dbFactory.OneTripBatches ? null : await db.Database.BeginTransactionAsync();
            var sagas = new Dictionary<Guid, SagaInstance>();
            var unread = new List<Guid>();
            foreach (var item in batch.Where(p => p.Event is not null))
            {
                // As this instance committed it: written under its version check, so a stale copy fails the batch.
                if (tx is null && _cache.Find(item.SagaId) is { } held)
                {
                    db.Sagas.Attach(held);
                    sagas[held.Id] = held;
                    fromCache = true;
                }
                else
                {
                    unread.Add(item.SagaId);
                }
            }

            if (unread.Count > 0)
            {
                foreach (var (id, saga) in await LoadManyForUpdateAsync(db, unread))
                {
                    sagas[id] = saga;
                }
            }

            foreach (var item in batch)
            {
                if (item.Start is { } command)
                {
                    item.Staged = await StageStartAsync(db, item.Definition!, command, item.MessageId, CancellationToken.None);
                    item.Result = new StartResult(StartOutcome.Started, command.SagaId, null);
                }
                else if (sagas.TryGetValue(item.SagaId, out var saga))
                {
                    (item.Result, item.Staged) = await StageEventAsync(db, saga, item.MessageId, item.Event!, CancellationToken.None);
                }
                else
                {
                    item.Result = new HandleResult(HandleOutcome.UnknownSaga);
                }
            }

            if (batch.Exists(p => p.Staged is not null))
            {
                if (tx is null)
                {
                    await WriteAndCommitAsync(db);
                }
                else
                {
                    await SaveAsync(db, CancellationToken.None);
                    await tx.CommitAsync();
                }
            }

            committed = true;
        }
        catch (Exception ex)
        {
            logger.LogDebug(ex, "A batch of {Count} transitions failed; each goes on alone", batch.Count);
            if (fromCache && ex is DbUpdateConcurrencyException)
            {
                // Another instance wrote one of these sagas since this one did.
                _cache.Stale();
            }

            foreach (var item in batch)
            {
                _cache.Forget(item.SagaId);
            }
        }

        foreach (var item in batch)
        {
            try
            {
                if (committed && item.Staged is { } staged)
                {
                    Publish(staged);
                }
            }
            catch (Exception ex)
            {
                // Committed: the outbox sweeper sends what was not handed over.
                logger.LogError(ex, "Announcing the committed transition of saga {SagaId} failed", item.SagaId);
            }

            item.Done.TrySetResult(committed ? item.Result : null);
        }
    }

    /// <summary>The batch's changes in one round trip, or (rows the batch writer cannot write) SaveChanges in its own transaction.</summary>
    private static async Task WriteAndCommitAsync(SagasDbContext db)
    {
        if (!await PostgresBatchWriter.TryWriteAndCommitAsync(db, CancellationToken.None))
        {
            await db.SaveChangesAsync(CancellationToken.None);
        }
    }

    private async Task<Dictionary<Guid, SagaInstance>> LoadManyForUpdateAsync(SagasDbContext db, List<Guid> ids)
    {
        var rows = dbFactory.Concurrency == ConcurrencyMode.Pessimistic
            ? await db.Sagas.FromSqlInterpolated($"SELECT * FROM sagas WHERE \"Id\" = ANY({ids.ToArray()}) ORDER BY \"Id\" FOR UPDATE").ToListAsync()
            : await db.Sagas.Where(s => ids.Contains(s.Id)).ToListAsync();
        return rows.ToDictionary(s => s.Id);
    }

    /// <summary>One first try waiting for (or in) a batch: a start (<see cref="Start"/>) or an event.</summary>
    private sealed class Pending(Guid sagaId, Guid? messageId, SagaEvent? evt, StartCommand? start, SagaDefinition? definition)
    {
        public Guid SagaId { get; } = sagaId;

        public Guid? MessageId { get; } = messageId;

        public SagaEvent? Event { get; } = evt;

        public StartCommand? Start { get; } = start;

        public SagaDefinition? Definition { get; } = definition;

        public object? Result { get; set; }

        public Staged? Staged { get; set; }

        /// <summary>The result (a <see cref="StartResult"/> or <see cref="HandleResult"/>), or null when the batch failed.</summary>
        public TaskCompletionSource<object?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A transition added to a unit of work, to announce once it has committed.</summary>
    private sealed record Staged(Decision Decision, List<OutboxRecord> Rows, bool Started);
}
