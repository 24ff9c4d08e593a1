using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Sagas.Contracts;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Several coordinator instances on one PostgreSQL database: each instance here is its own processor with
/// its own in-process locks, so only the database's concurrency control keeps them apart.
/// </summary>
public sealed class ConcurrencyScenarios : IDisposable
{
    private const int Instances = 4;

    private readonly List<StandaloneStore> _stores = [];

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }
    }

    [Theory]
    [InlineData(ConcurrencyMode.Optimistic)]
    [InlineData(ConcurrencyMode.Pessimistic)]
    public async Task Start_SameSagaOnManyInstancesAtOnce_ExactlyOneSagaAndOneFirstCommand(ConcurrencyMode mode)
    {
        var (processors, factory, _) = await CreateInstancesAsync(mode);
        var id = Guid.NewGuid();

        var results = await Task.WhenAll(Enumerable.Range(0, 24).Select(i =>
            Task.Run(() => processors[i % Instances].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), Guid.NewGuid(), default))));

        Assert.Single(results, r => r.Outcome == StartOutcome.Started);
        Assert.All(results, r => Assert.Contains(r.Outcome, new[] { StartOutcome.Started, StartOutcome.AlreadyStarted }));
        await using var db = factory.Create();
        Assert.Equal(1, await db.Sagas.CountAsync(s => s.Id == id));
        Assert.Single(await db.History.Where(h => h.SagaId == id && h.Type == HistoryTypes.StepCommandSent).ToListAsync());
        Assert.Single(await db.Outbox.Where(o => o.SagaId == id && o.MessageType == nameof(ExecuteStep)).ToListAsync());
    }

    [Theory]
    [InlineData(ConcurrencyMode.Optimistic)]
    [InlineData(ConcurrencyMode.Pessimistic)]
    public async Task Handle_ManyRepliesForOneSagaOnManyInstances_NoLostOrDoubledTransition(ConcurrencyMode mode)
    {
        var (processors, factory, outbox) = await CreateInstancesAsync(mode);
        var id = Guid.NewGuid();
        await processors[0].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);

        // Each step's success arrives many times at once (distinct message ids, as after redeliveries), on every instance,
        // together with timer ticks; then the same for the next step.
        string[] steps = ["reserve-stock", "charge-payment", "book-shipment"];
        foreach (var step in steps)
        {
            var burst = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
            {
                var processor = processors[i % Instances];
                var evt = i % 4 == 3 ? (SagaEvent)new SagaEvent.Tick() : SagaEvent.From(new StepSucceeded(id, step, 1, JsonSerializer.SerializeToElement(new { i })));
                return await processor.HandleAsync(id, evt is SagaEvent.Tick ? null : Guid.NewGuid(), evt, default);
            }));
            var outcomes = await Task.WhenAll(burst);
            Assert.DoesNotContain(outcomes, o => o is HandleOutcome.Duplicate or HandleOutcome.UnknownSaga);
        }

        await using var db = factory.Create();
        var saga = await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id);
        Assert.Equal(SagaState.Completed, saga.State);
        var history = await db.History.AsNoTracking().Where(h => h.SagaId == id).OrderBy(h => h.Sequence).ToListAsync();
        Assert.Equal(Enumerable.Range(1, history.Count), history.Select(h => h.Sequence));
        Assert.Equal(steps, history.Where(h => h.Type == HistoryTypes.StepSucceeded).Select(h => h.Step));
        Assert.Equal(3, history.Count(h => h.Type == HistoryTypes.StepCommandSent));
        Assert.Single(history, h => h.Type == HistoryTypes.SagaCompleted);

        // 12 replies per step: one moved the saga on, every other one is on the record as ignored; none vanished.
        Assert.Equal(3 * 11, history.Count(h => h.Type == HistoryTypes.ReplyIgnored));
        Assert.Equal(3, outbox.Records.Count(r => r.SagaId == id && r.MessageType == nameof(ExecuteStep)));
    }

    /// <summary>
    /// An instance keeps each saga it wrote as it committed it and applies the saga's next reply without reading it
    /// (optimistic): when another instance moved the saga on in between, the copy is stale, and it must lose to the
    /// version check rather than decide on an old state (here it would ignore the reply as one for a step not running).
    /// </summary>
    [Fact]
    public async Task Handle_RepliesTakingTurnsBetweenInstances_StaleCachedCopyNeverDecides()
    {
        var (processors, factory, outbox) = await CreateInstancesAsync(ConcurrencyMode.Optimistic);
        var id = Guid.NewGuid();
        await processors[0].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        Assert.Equal(1, processors[0].CachedSagas);

        string[] steps = ["reserve-stock", "charge-payment", "book-shipment"];
        int[] turns = [1, 0, 0];
        for (var i = 0; i < steps.Length; i++)
        {
            var reply = SagaEvent.From(new StepSucceeded(id, steps[i], 1, JsonSerializer.SerializeToElement(new { i })));
            Assert.Equal(HandleOutcome.Applied, await processors[turns[i]].HandleAsync(id, Guid.NewGuid(), reply, default));
        }

        await using var db = factory.Create();
        Assert.Equal(SagaState.Completed, (await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id)).State);
        var history = await db.History.AsNoTracking().Where(h => h.SagaId == id).OrderBy(h => h.Sequence).ToListAsync();
        Assert.Equal(Enumerable.Range(1, history.Count), history.Select(h => h.Sequence));
        Assert.Equal(steps, history.Where(h => h.Type == HistoryTypes.StepSucceeded).Select(h => h.Step));
        Assert.DoesNotContain(history, h => h.Type == HistoryTypes.ReplyIgnored);
        Assert.Equal(steps, outbox.Records.Where(r => r.SagaId == id && r.MessageType == nameof(ExecuteStep)).Select(r => ((ExecuteStep)r.Message!).Step));

        // A finished saga is not kept by the instance that finished it. Instance 1 still holds its stale copy: it fails
        // a batch if used, and goes when its cache is full and starts over.
        Assert.Equal((0, 1), (processors[0].CachedSagas, processors[1].CachedSagas));
    }

    /// <summary>
    /// A first try does not look in the inbox (a duplicate fails on the inbox key when saved); the redelivered reply
    /// must still come out as a duplicate on every instance, with nothing applied or recorded twice.
    /// </summary>
    [Theory]
    [InlineData(ConcurrencyMode.Optimistic)]
    [InlineData(ConcurrencyMode.Pessimistic)]
    public async Task Handle_SameReplyDeliveredAgain_AppliedOnceThenDuplicateEverywhere(ConcurrencyMode mode)
    {
        var (processors, factory, outbox) = await CreateInstancesAsync(mode);
        var id = Guid.NewGuid();
        await processors[0].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        var messageId = Guid.NewGuid();
        var reply = SagaEvent.From(new StepSucceeded(id, "reserve-stock", 1, JsonSerializer.SerializeToElement(new { reserved = 1 })));

        var first = await processors[0].HandleAsync(id, messageId, reply, default);
        var again = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => processors[i % Instances].HandleAsync(id, messageId, reply, default))));

        Assert.Equal(HandleOutcome.Applied, first);
        Assert.All(again, o => Assert.Equal(HandleOutcome.Duplicate, o));
        await using var db = factory.Create();
        var history = await db.History.AsNoTracking().Where(h => h.SagaId == id).ToListAsync();
        Assert.Single(history, h => h.Type == HistoryTypes.StepSucceeded);
        Assert.DoesNotContain(history, h => h.Type == HistoryTypes.ReplyIgnored);
        Assert.Equal(1, await db.Inbox.CountAsync(i => i.MessageId == messageId));
        Assert.Equal(2, outbox.Records.Count(r => r.SagaId == id && r.MessageType == nameof(ExecuteStep)));
    }

    /// <summary>A first try inserts without looking; a start of an existing saga must still say so, and change nothing.</summary>
    [Fact]
    public async Task Start_ExistingSagaAgain_AlreadyStartedOrConflictAndNothingWritten()
    {
        var (processors, factory, outbox) = await CreateInstancesAsync(ConcurrencyMode.Optimistic);
        await new DefinitionRegistry(factory, TimeProvider.System).RegisterAsync(TestDefinitions.OrderPivot, default);
        var id = Guid.NewGuid();
        var started = await processors[0].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), Guid.NewGuid(), default);

        var sameMessage = await processors[1].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), Guid.NewGuid(), default);
        var other = await processors[2].StartAsync(new StartCommand(id, TestDefinitions.Pivot, null, """{"orderId":"p"}"""), Guid.NewGuid(), default);

        Assert.Equal(StartOutcome.Started, started.Outcome);
        Assert.Equal(StartOutcome.AlreadyStarted, sameMessage.Outcome);
        Assert.Equal(StartOutcome.Conflict, other.Outcome);
        Assert.Contains(TestDefinitions.Fast, other.Error, StringComparison.Ordinal);
        await using var db = factory.Create();
        var saga = await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id);
        Assert.Equal(TestDefinitions.Fast, saga.Definition);
        Assert.Contains("\"o\"", saga.Data, StringComparison.Ordinal);
        Assert.Single(outbox.Records, r => r.SagaId == id && r.MessageType == nameof(ExecuteStep));
    }

    /// <summary>
    /// Starts arriving together on one instance share transactions (group commit): sagas written by one transaction
    /// carry the same xmin. Each still gets its own saga row, first command and history.
    /// </summary>
    [Theory]
    [InlineData(ConcurrencyMode.Optimistic)]
    [InlineData(ConcurrencyMode.Pessimistic)]
    public async Task Start_ManySagasAtOnce_SharedCommitsAndEverySagaComplete(ConcurrencyMode mode)
    {
        var (processors, factory, outbox) = await CreateInstancesAsync(mode);
        var ids = Enumerable.Range(0, 48).Select(_ => Guid.NewGuid()).ToList();

        var results = await Task.WhenAll(ids.Select(id =>
            Task.Run(() => processors[0].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), Guid.NewGuid(), default))));

        Assert.All(results, r => Assert.Equal(StartOutcome.Started, r.Outcome));
        await using var db = factory.Create();
        var commits = await db.Database.SqlQuery<string>($"SELECT xmin::text AS \"Value\" FROM sagas WHERE \"Id\" = ANY({ids.ToArray()})").ToListAsync();
        Assert.Equal(ids.Count, commits.Count);
        Assert.True(commits.Distinct().Count() < ids.Count, $"{ids.Count} starts at once took {commits.Distinct().Count()} commits");
        foreach (var id in ids)
        {
            Assert.Single(outbox.Records, r => r.SagaId == id && r.MessageType == nameof(ExecuteStep));
            Assert.Single(await db.History.AsNoTracking().Where(h => h.SagaId == id && h.Type == HistoryTypes.StepCommandSent).ToListAsync());
        }
    }

    /// <summary>
    /// Starts that arrive one after another, faster than the batch wait, gather in its batches: far fewer commits
    /// than starts (a start every 20 ms, a wait of 200 ms). Without the wait each would find the executor idle and
    /// commit alone.
    /// </summary>
    [Fact]
    public async Task Start_SteadyStreamWithBatchWait_StartsShareCommits()
    {
        var store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres, configure: o => o.BatchWait = TimeSpan.FromMilliseconds(200));
        _stores.Add(store);
        var outbox = new RecordingOutbox();
        var processor = store.NewProcessor(outbox);
        var ids = Enumerable.Range(0, 30).Select(_ => Guid.NewGuid()).ToList();

        var starts = new List<Task<StartResult>>();
        foreach (var id in ids)
        {
            starts.Add(Task.Run(() => processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), Guid.NewGuid(), default)));
            await Task.Delay(20);
        }

        Assert.All(await Task.WhenAll(starts), r => Assert.Equal(StartOutcome.Started, r.Outcome));
        Assert.True(processor.BatchWaits > 0);
        await using var db = store.Factory.Create();
        var commits = await db.Database.SqlQuery<string>($"SELECT xmin::text AS \"Value\" FROM sagas WHERE \"Id\" = ANY({ids.ToArray()})").ToListAsync();
        Assert.Equal(ids.Count, commits.Count);
        Assert.True(commits.Distinct().Count() <= ids.Count / 3, $"{ids.Count} starts 20 ms apart took {commits.Distinct().Count()} commits");
        Assert.All(ids, id => Assert.Single(outbox.Records, r => r.SagaId == id && r.MessageType == nameof(ExecuteStep)));
    }

    /// <summary>A message that arrives alone, after nothing, is written at once: no wait for company that is not coming.</summary>
    [Fact]
    public async Task Start_LoneMessageWithBatchWait_WrittenWithoutWaiting()
    {
        var store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres, configure: o => o.BatchWait = TimeSpan.FromSeconds(1));
        _stores.Add(store);
        var processor = store.NewProcessor(new RecordingOutbox());
        var id = Guid.NewGuid();

        var result = await processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), Guid.NewGuid(), default);

        Assert.Equal(StartOutcome.Started, result.Outcome);
        Assert.Equal(0, processor.BatchWaits);
        await using var db = store.Factory.Create();
        Assert.Equal(1, await db.Sagas.CountAsync(s => s.Id == id));
    }

    /// <summary>
    /// Redelivered replies arrive in the same burst as new ones: a batch holding a duplicate fails as a whole on the
    /// inbox key, and every reply in it must then still be applied once (or found a duplicate) on its own.
    /// </summary>
    [Theory]
    [InlineData(ConcurrencyMode.Optimistic)]
    [InlineData(ConcurrencyMode.Pessimistic)]
    public async Task Handle_BurstMixingNewAndRedeliveredReplies_EachAppliedExactlyOnce(ConcurrencyMode mode)
    {
        var (processors, factory, outbox) = await CreateInstancesAsync(mode);
        var ids = Enumerable.Range(0, 24).Select(_ => Guid.NewGuid()).ToList();
        foreach (var id in ids)
        {
            await processors[0].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        }

        var replies = ids.Select(id => (Id: id, MessageId: Guid.NewGuid(), Event: SagaEvent.From(new StepSucceeded(id, "reserve-stock", 1, JsonSerializer.SerializeToElement(new { reserved = 1 }))))).ToList();
        var early = replies.Take(6).ToList();
        foreach (var (id, messageId, evt) in early)
        {
            Assert.Equal(HandleOutcome.Applied, await processors[0].HandleAsync(id, messageId, evt, default));
        }

        // The rest for the first time, and the first six again, all at once.
        var burst = replies.Skip(6).Select(r => (r, Redelivered: false)).Concat(early.Select(r => (r, Redelivered: true))).ToList();
        var outcomes = await Task.WhenAll(burst.Select(b => Task.Run(() => processors[0].HandleAsync(b.r.Id, b.r.MessageId, b.r.Event, default))));

        for (var i = 0; i < burst.Count; i++)
        {
            Assert.Equal(burst[i].Redelivered ? HandleOutcome.Duplicate : HandleOutcome.Applied, outcomes[i]);
        }

        await using var db = factory.Create();
        foreach (var id in ids)
        {
            var history = await db.History.AsNoTracking().Where(h => h.SagaId == id).OrderBy(h => h.Sequence).ToListAsync();
            Assert.Equal(Enumerable.Range(1, history.Count), history.Select(h => h.Sequence));
            Assert.Single(history, h => h.Type == HistoryTypes.StepSucceeded && h.Step == "reserve-stock");
            Assert.Equal(2, outbox.Records.Count(r => r.SagaId == id && r.MessageType == nameof(ExecuteStep)));
            Assert.Equal(2, await db.Events.CountAsync(e => e.SagaId == id));
        }
    }

    /// <summary>
    /// PostgreSQL breaks a deadlock by aborting one side; when that side is a transition it must be run again, not
    /// surface as an error (EF reports it inside an InvalidOperationException). Another transaction here takes the two
    /// rows a reply writes (the saga's row and its next event row) in the opposite order to the coordinator's writes:
    /// the saga's row first with the batch writer, last with SaveChanges. The coordinator waits first, so PostgreSQL
    /// picks it as the victim.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Handle_DeadlockWithAnotherTransaction_RunAgainAndAppliedOnce(bool directWrites)
    {
        var store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres, configure: o =>
        {
            o.MaxBatch = 1;
            o.DirectWrites = directWrites;
        });
        _stores.Add(store);
        var outbox = new RecordingOutbox();
        var processor = store.NewProcessor(outbox);
        var id = Guid.NewGuid();
        await processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        long version;
        await using (var db = store.Factory.Create())
        {
            version = (await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id)).ConcurrencyVersion;
        }

        await using var other = new NpgsqlConnection(store.Connection);
        await other.OpenAsync();
        await using var tx = await other.BeginTransactionAsync();
        await ExecuteAsync(other, "SET LOCAL deadlock_timeout = '30s'");
        const string lockSaga = """UPDATE sagas SET "Id" = "Id" WHERE "Id" = @id""";
        const string takeNextEvent = """INSERT INTO saga_events ("SagaId", "Version", "AtTicks", "Kind", "Json") VALUES (@id, @version, 0, 'test', '{}')""";
        var (first, second) = directWrites ? (takeNextEvent, lockSaga) : (lockSaga, takeNextEvent);
        await ExecuteAsync(other, first, id, version + 1);

        var reply = SagaEvent.From(new StepSucceeded(id, "reserve-stock", 1, JsonSerializer.SerializeToElement(new { reserved = 1 })));
        var handling = Task.Run(() => processor.HandleAsync(id, Guid.NewGuid(), reply, default));
        await WaitForLockWaitAsync(store.Connection, handling);

        // Waits for the coordinator's transaction, which waits for this one: only the coordinator's abort lets it go on.
        await ExecuteAsync(other, second, id, version + 1);
        await tx.RollbackAsync();

        Assert.Equal(HandleOutcome.Applied, await handling);
        await using (var db = store.Factory.Create())
        {
            var saga = await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id);
            Assert.Equal(version + 1, saga.ConcurrencyVersion);
            Assert.Equal(StepStatus.Succeeded, saga.Steps.Single(s => s.Name == "reserve-stock").Status);
            var history = await db.History.AsNoTracking().Where(h => h.SagaId == id).OrderBy(h => h.Sequence).ToListAsync();
            Assert.Single(history, h => h.Type == HistoryTypes.StepSucceeded);
            Assert.Equal(Enumerable.Range(1, history.Count), history.Select(h => h.Sequence));
            Assert.Equal([SagaEventCodec.StartKind, SagaEventCodec.Encode(reply).Kind], await db.Events.AsNoTracking().Where(e => e.SagaId == id).OrderBy(e => e.Version).Select(e => e.Kind).ToListAsync());
        }

        Assert.Equal(2, outbox.Records.Count(r => r.SagaId == id && r.MessageType == nameof(ExecuteStep)));
    }

    /// <summary>
    /// The batch writer locks the saga's row before it writes any of the saga's other rows: a transition that finds
    /// the row taken waits holding no other table's row locks, so it cannot close a deadlock with another writer.
    /// </summary>
    [Fact]
    public async Task Handle_SagaRowLockedElsewhere_TransitionWaitsBeforeWritingAnyOtherTable()
    {
        var (processors, factory, outbox) = await CreateInstancesAsync(ConcurrencyMode.Optimistic);
        var store = _stores[^1];
        var id = Guid.NewGuid();
        await processors[0].StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);

        await using var other = new NpgsqlConnection(store.Connection);
        await other.OpenAsync();
        await using var tx = await other.BeginTransactionAsync();
        await ExecuteAsync(other, """SELECT 1 FROM sagas WHERE "Id" = @id FOR UPDATE""", id);
        var reply = SagaEvent.From(new StepSucceeded(id, "reserve-stock", 1, JsonSerializer.SerializeToElement(new { reserved = 1 })));
        var handling = Task.Run(() => processors[1].HandleAsync(id, Guid.NewGuid(), reply, default));
        await WaitForLockWaitAsync(store.Connection, handling);

        // Tables the waiting transition holds write locks on (taken by its INSERT, UPDATE or DELETE statements so far).
        await using var watcher = new NpgsqlConnection(store.Connection);
        await watcher.OpenAsync();
        await using var query = new NpgsqlCommand(
            """
            SELECT DISTINCT c.relname FROM pg_locks l
            JOIN pg_stat_activity a ON a.pid = l.pid
            JOIN pg_class c ON c.oid = l.relation
            WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
              AND l.granted AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'
            """, watcher);
        var written = new List<string>();
        await using (var reader = await query.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                written.Add(reader.GetString(0));
            }
        }

        await tx.CommitAsync();
        Assert.Equal(HandleOutcome.Applied, await handling);
        Assert.Equal(["sagas"], written);
        await using var db = factory.Create();
        Assert.Single(await db.History.AsNoTracking().Where(h => h.SagaId == id && h.Type == HistoryTypes.StepSucceeded).ToListAsync());
        Assert.Equal(2, outbox.Records.Count(r => r.SagaId == id && r.MessageType == nameof(ExecuteStep)));
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, Guid? id = null, long version = 0)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("id", id ?? Guid.Empty);
        command.Parameters.AddWithValue("version", version);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Returns once a session of the store's database waits for a lock (the coordinator's transition).</summary>
    private static async Task WaitForLockWaitAsync(string connectionString, Task handling)
    {
        await using var watcher = new NpgsqlConnection(connectionString);
        await watcher.OpenAsync();
        for (var i = 0; i < 200; i++)
        {
            Assert.False(handling.IsCompleted, "the transition finished without waiting for the other transaction");
            await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", watcher);
            if ((long)(await command.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail("the transition never waited for the other transaction's row");
    }

    private async Task<(SagaProcessor[] Processors, SagasDbFactory Factory, RecordingOutbox Outbox)> CreateInstancesAsync(ConcurrencyMode mode)
    {
        var store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres, mode);
        _stores.Add(store);
        var outbox = new RecordingOutbox();
        return (Enumerable.Range(0, Instances).Select(_ => store.NewProcessor(outbox)).ToArray(), store.Factory, outbox);
    }

    private sealed class RecordingOutbox : IOutboxSignal
    {
        private readonly List<OutboxRecord> _records = [];

        public IReadOnlyList<OutboxRecord> Records
        {
            get
            {
                lock (_records)
                {
                    return _records.ToList();
                }
            }
        }

        public void Enqueue(IReadOnlyList<OutboxRecord> records)
        {
            lock (_records)
            {
                _records.AddRange(records);
            }
        }
    }
}
