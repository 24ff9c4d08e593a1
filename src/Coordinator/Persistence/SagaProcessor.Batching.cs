using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Group commit (PostgreSQL): starts and replies of different sagas that arrive together are applied in one
/// transaction, so under load they share its round trips and its commit. Each saga's change is still all-or-nothing,
/// and a batch is just a way of running several first tries at once: when it fails as a whole (a duplicate, a
/// concurrent transition on another instance, the database going away), every item in it goes on alone, as a second
/// try that looks first.
/// <para>
/// At most <see cref="DatabaseOptions.BatchExecutors"/> batches run at once, each holding a slot. A message that finds
/// a slot free and transitions arriving too seldom for a batch to wait (<see cref="BatchWaitPolicy"/>) runs its batch
/// itself, on its own consumer's flow: at moderate load most transitions come alone, and handing each to another
/// thread and back cost more CPU (wake-ups) than the transition itself. Otherwise the batch goes to an executor
/// thread of its own, started on demand and ended after a while with nothing to do. A thread of its own can wait a
/// precise millisecond for a batch to fill (<see cref="DatabaseOptions.BatchWait"/>), where a timer on the thread pool
/// takes two or three; under load it runs batch after batch, and later messages only queue for it.
/// </para>
/// <para>
/// A batch run inline carries the consumer's execution context, so its database spans and log lines belong to that
/// saga's trace even when other sagas' transitions joined it; an executor thread runs without any.
/// </para>
/// </summary>
public sealed partial class SagaProcessor
{
    /// <summary>How long an executor thread with nothing to do stays for the next message before it ends.</summary>
    private static readonly TimeSpan ExecutorIdle = TimeSpan.FromSeconds(2);

    private readonly ConcurrentQueue<Pending> _pending = new();
    private readonly SagaStateCache _cache = new(dbFactory.StateCache, clock);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly BatchWaitPolicy _policy = new(dbFactory.BatchWait);
    private int _slots;
    private int _threads;
    private int _idleThreads;
    private long _waits;
    private long _inline;

    /// <summary>Sagas whose next event skips the read (tests).</summary>
    internal int CachedSagas => _cache.Count;

    /// <summary>Batches that waited for more transitions to join them (tests).</summary>
    internal long BatchWaits => Interlocked.Read(ref _waits);

    /// <summary>Batches run by the message that found a slot free, on its own flow (tests).</summary>
    internal long InlineBatches => Interlocked.Read(ref _inline);

    /// <summary>
    /// Queues the first try of a start or an event; the result is null when the batch failed as a whole. The caller
    /// holds the saga's lock, so no batch holds two items of one saga.
    /// </summary>
    private async Task<object?> BatchAsync(Pending item, CancellationToken ct)
    {
        _pending.Enqueue(item);

        // No slot free: a batch is running, and its runner looks at the queue again when it leaves its slot.
        if (TryEnterSlot())
        {
            bool wouldWait;
            lock (_policy)
            {
                wouldWait = _policy.WouldWait(1, Stopwatch.GetTimestamp());
            }

            if (wouldWait)
            {
                // Transitions arrive often enough for the batch to wait for company: an executor thread does that.
                ExitSlot();
                WakeExecutor();
            }
            else
            {
                await RunInlineAsync();
            }
        }

        return await item.Done.Task.WaitAsync(ct);
    }

    /// <summary>One batch (this caller's item, with whatever else is queued), then the slot goes back.</summary>
    private async Task RunInlineAsync()
    {
        var batch = new List<Pending>();
        try
        {
            Take(batch);
            lock (_policy)
            {
                _policy.ShouldWait(batch.Count, Stopwatch.GetTimestamp());
            }

            Interlocked.Increment(ref _inline);
            await ExecuteOrSettleAsync(batch, inline: true);
        }
        finally
        {
            ExitSlot();
        }

        // Whatever arrived meanwhile found no slot: it is an executor's (this caller has a saga lock to give back).
        if (!_pending.IsEmpty)
        {
            WakeExecutor();
        }
    }

    private bool TryEnterSlot() => TryIncrementBelow(ref _slots, dbFactory.BatchExecutors);

    private void ExitSlot() => Interlocked.Decrement(ref _slots);

    /// <summary>Wakes an idle executor thread, or starts one if fewer than the slots run.</summary>
    private void WakeExecutor()
    {
        if (Volatile.Read(ref _idleThreads) > 0)
        {
            // An executor waits for work (it looked at the queue after saying so): wake it. A spare wake-up only makes
            // an executor look at the queue once more.
            _wake.Release();
        }
        else if (TryIncrementBelow(ref _threads, dbFactory.BatchExecutors))
        {
            // Unsafe: without this caller's execution context (its saga's log scope and trace), which would otherwise
            // stay with the thread and every batch it runs.
            new Thread(RunExecutor) { IsBackground = true, Name = "sagas-group-commit" }.UnsafeStart();
        }
    }

    private static bool TryIncrementBelow(ref int counter, int limit)
    {
        while (true)
        {
            var current = Volatile.Read(ref counter);
            if (current >= limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref counter, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Work an executor can start on: a queued item and a free slot.</summary>
    private bool ExecutorWork() => !_pending.IsEmpty && Volatile.Read(ref _slots) < dbFactory.BatchExecutors;

    private void RunExecutor()
    {
        var batch = new List<Pending>(Math.Min(dbFactory.MaxBatch, 16));
        while (true)
        {
            if (!_pending.IsEmpty && TryEnterSlot())
            {
                try
                {
                    while (NextBatch(batch))
                    {
                        // The batch's own I/O is asynchronous; this thread only waits for it, so the pool's threads are not held.
                        ExecuteOrSettleAsync(batch, inline: false).GetAwaiter().GetResult();
                    }
                }
                finally
                {
                    ExitSlot();
                }

                // An item queued while this thread still held its slot may have found none free: look again.
                continue;
            }

            Interlocked.Increment(ref _idleThreads);
            var woken = ExecutorWork() || _wake.Wait(ExecutorIdle);
            Interlocked.Decrement(ref _idleThreads);
            if (woken)
            {
                continue;
            }

            Interlocked.Decrement(ref _threads);

            // An item queued after this thread stopped waiting and before the decrement found no thread to start: look
            // again, so it is not stranded.
            if (!ExecutorWork() || !TryIncrementBelow(ref _threads, dbFactory.BatchExecutors))
            {
                return;
            }
        }
    }

    /// <summary>Runs a batch; a failure it does not settle itself must not end the process or strand its items.</summary>
    private async Task ExecuteOrSettleAsync(List<Pending> batch, bool inline)
    {
        try
        {
            await ExecuteBatchAsync(batch, inline);
        }
        catch (Exception ex)
        {
            // Items not settled yet go on alone, as after a failed batch.
            logger.LogError(ex, "A group-commit batch of {Count} transitions failed unexpectedly", batch.Count);
            foreach (var item in batch)
            {
                item.Done.TrySetResult(null);
            }
        }
    }

    /// <summary>The next batch, after its wait if the policy says so (false: the queue is empty, the slot goes back).</summary>
    private bool NextBatch(List<Pending> batch)
    {
        batch.Clear();
        Take(batch);
        if (batch.Count == 0)
        {
            return false;
        }

        bool wait;
        lock (_policy)
        {
            wait = _policy.ShouldWait(batch.Count, Stopwatch.GetTimestamp()) && batch.Count < dbFactory.MaxBatch;
        }

        if (wait)
        {
            Interlocked.Increment(ref _waits);
            Thread.Sleep(dbFactory.BatchWait);
            var before = batch.Count;
            Take(batch);
            lock (_policy)
            {
                _policy.Joined(batch.Count - before);
            }
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

    private async Task ExecuteBatchAsync(List<Pending> batch, bool inline)
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

        List<OutboxRecord>? rows = null;
        foreach (var item in committed ? batch : [])
        {
            if (item.Staged is not { } staged)
            {
                continue;
            }

            try
            {
                Announce(staged);
                (rows ??= []).AddRange(staged.Rows);
            }
            catch (Exception ex)
            {
                // Committed: the outbox sweeper sends what was not handed over.
                logger.LogError(ex, "Announcing the committed transition of saga {SagaId} failed", item.SagaId);
            }
        }

        if (rows is not null)
        {
            Deliver(rows, inline);
        }

        foreach (var item in batch)
        {
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
