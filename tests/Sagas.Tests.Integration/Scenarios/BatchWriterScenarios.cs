using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Sagas.Participants.Payloads;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// The PostgreSQL batch writer replaces SaveChanges on the group-commit path: what it writes must read back through EF
/// exactly as written, and it must refuse what SaveChanges refuses (a stale version, a row gone, a key taken).
/// </summary>
public sealed class BatchWriterScenarios : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 6, 0, 0, TimeSpan.Zero);

    private StandaloneStore? _store;

    public void Dispose() => _store?.Dispose();

    [Fact]
    public async Task Write_NewSagaWithItsRows_ReadsBackAsWrittenWithOutboxIds()
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        var saga = NewSaga();
        var outbox = new[] { NewOutbox(saga.Id, "inventory"), NewOutbox(saga.Id, null) };
        await using (var db = _store.Factory.Create())
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            db.Sagas.Add(saga);
            db.History.Add(new HistoryRecord { SagaId = saga.Id, Sequence = 1, At = T0, Type = "SagaStarted", Actor = "system" });
            db.History.Add(new HistoryRecord { SagaId = saga.Id, Sequence = 2, At = T0, Type = "StepStarted", Step = "reserve", Attempt = 1, Detail = "d", Actor = "system" });
            db.Events.Add(new SagaEventRecord { SagaId = saga.Id, Version = 1, AtTicks = T0.UtcTicks, Kind = "start", Json = """{"a":1}""" });
            db.Outbox.AddRange(outbox);
            db.Inbox.Add(new InboxRecord { MessageId = Guid.NewGuid(), SagaId = saga.Id, ReceivedAt = T0 });
            db.Timers.Add(new SagaTimerRecord { SagaId = saga.Id, WakeAt = T0.AddSeconds(30) });
            Assert.True(await PostgresBatchWriter.TryWriteAsync(db, default));
            await tx.CommitAsync();
        }

        Assert.All(outbox, o => Assert.True(o.Id > 0));
        Assert.NotEqual(outbox[0].Id, outbox[1].Id);
        await using (var db = _store.Factory.Create())
        {
            var stored = await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == saga.Id);
            AssertSameSaga(saga, stored);
            var history = await db.History.AsNoTracking().Where(h => h.SagaId == saga.Id).OrderBy(h => h.Sequence).ToListAsync();
            Assert.Equal(["SagaStarted", "StepStarted"], history.Select(h => h.Type));
            Assert.Equal(("reserve", 1, "d"), (history[1].Step, history[1].Attempt, history[1].Detail));
            Assert.Null(history[0].Step);
            var rows = await db.Outbox.AsNoTracking().Where(o => o.SagaId == saga.Id).OrderBy(o => o.Id).ToListAsync();
            Assert.Equal(outbox.Select(o => (o.Id, o.MessageId, o.Queue, o.Body)), rows.Select(o => (o.Id, o.MessageId, o.Queue, o.Body)));
            Assert.Equal(T0.AddSeconds(30), (await db.Timers.AsNoTracking().SingleAsync(t => t.SagaId == saga.Id)).WakeAt);
            Assert.Equal("""{"a":1}""", (await db.Events.AsNoTracking().SingleAsync(e => e.SagaId == saga.Id)).Json);
            Assert.Equal(1, await db.Inbox.CountAsync(i => i.SagaId == saga.Id));
        }
    }

    [Fact]
    public async Task Write_ChangedSagaAndTimers_UpdatesOnlyWhatChangedUnderTheVersionCheck()
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        var saga = NewSaga();
        var other = NewSaga();
        await InsertAsync(saga, other);

        await using (var db = _store.Factory.Create())
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            var tracked = await db.Sagas.SingleAsync(s => s.Id == saga.Id);
            tracked.State = SagaState.Completed;
            tracked.Steps = [.. tracked.Steps.Select(s => s with { Status = StepStatus.Succeeded, FinishedAt = T0.AddSeconds(5) })];
            tracked.CompletedAt = T0.AddSeconds(5);
            tracked.Reason = null;
            tracked.ConcurrencyVersion++;
            db.Timers.Update(new SagaTimerRecord { SagaId = saga.Id, WakeAt = T0.AddMinutes(5) });
            db.Timers.Remove(new SagaTimerRecord { SagaId = other.Id, WakeAt = T0 });
            Assert.True(await PostgresBatchWriter.TryWriteAsync(db, default));
            await tx.CommitAsync();
            saga = tracked;
        }

        await using (var db = _store.Factory.Create())
        {
            AssertSameSaga(saga, await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == saga.Id));
            AssertSameSaga(other, await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == other.Id));
            Assert.Equal(T0.AddMinutes(5), (await db.Timers.AsNoTracking().SingleAsync(t => t.SagaId == saga.Id)).WakeAt);
            Assert.False(await db.Timers.AnyAsync(t => t.SagaId == other.Id));
        }
    }

    [Fact]
    public async Task Write_VersionMovedSinceRead_FailsAndWritesNothing()
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        var saga = NewSaga();
        await InsertAsync(saga);

        await using var db = _store.Factory.Create();
        await using var tx = await db.Database.BeginTransactionAsync();
        var tracked = await db.Sagas.SingleAsync(s => s.Id == saga.Id);

        // Another instance's transition commits in between.
        await using (var other = _store.Factory.Create())
        {
            await other.Sagas.Where(s => s.Id == saga.Id).ExecuteUpdateAsync(u => u.SetProperty(s => s.ConcurrencyVersion, 2).SetProperty(s => s.Reason, "other"));
        }

        tracked.Reason = "mine";
        tracked.ConcurrencyVersion++;
        db.History.Add(new HistoryRecord { SagaId = saga.Id, Sequence = 9, At = T0, Type = "Mine", Actor = "system" });
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => PostgresBatchWriter.TryWriteAsync(db, default));
        await tx.RollbackAsync();

        await using var check = _store.Factory.Create();
        Assert.Equal("other", (await check.Sagas.AsNoTracking().SingleAsync(s => s.Id == saga.Id)).Reason);
        Assert.False(await check.History.AnyAsync(h => h.SagaId == saga.Id && h.Type == "Mine"));
    }

    [Fact]
    public async Task Write_InboxKeyTakenOrTimerGone_FailsAsSaveChangesDoes()
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        var saga = NewSaga();
        var reply = Guid.NewGuid();
        await InsertAsync(saga);
        await using (var db = _store.Factory.Create())
        {
            db.Inbox.Add(new InboxRecord { MessageId = reply, SagaId = saga.Id, ReceivedAt = T0 });
            await db.SaveChangesAsync();
        }

        await using (var db = _store.Factory.Create())
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            db.Inbox.Add(new InboxRecord { MessageId = reply, SagaId = saga.Id, ReceivedAt = T0 });
            var ex = await Assert.ThrowsAsync<DbUpdateException>(() => PostgresBatchWriter.TryWriteAsync(db, default));
            Assert.Equal(PostgresErrorCodes.UniqueViolation, Assert.IsType<PostgresException>(ex.InnerException).SqlState);
        }

        await using (var db = _store.Factory.Create())
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            db.Timers.Update(new SagaTimerRecord { SagaId = Guid.NewGuid(), WakeAt = T0 });
            await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => PostgresBatchWriter.TryWriteAsync(db, default));
        }
    }

    [Fact]
    public async Task WriteAndCommit_WithoutATransaction_CommitsEveryRowInOneBatch()
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        var saga = NewSaga();
        var started = NewSaga();
        await InsertAsync(saga);
        var outbox = NewOutbox(saga.Id, "payments");

        await using (var db = _store.Factory.Create())
        {
            var tracked = await db.Sagas.SingleAsync(s => s.Id == saga.Id);
            tracked.Reason = "moved on";
            tracked.ConcurrencyVersion++;
            db.Sagas.Add(started);
            db.History.Add(new HistoryRecord { SagaId = saga.Id, Sequence = 3, At = T0, Type = "StepSucceeded", Actor = "system" });
            db.Outbox.Add(outbox);
            db.Timers.Update(new SagaTimerRecord { SagaId = saga.Id, WakeAt = T0.AddMinutes(1) });
            Assert.True(await PostgresBatchWriter.TryWriteAndCommitAsync(db, default));
            Assert.Null(db.Database.CurrentTransaction);
        }

        Assert.True(outbox.Id > 0);
        await using var check = _store.Factory.Create();
        var stored = await check.Sagas.AsNoTracking().SingleAsync(s => s.Id == saga.Id);
        Assert.Equal(("moved on", 2), (stored.Reason, stored.ConcurrencyVersion));
        AssertSameSaga(started, await check.Sagas.AsNoTracking().SingleAsync(s => s.Id == started.Id));
        Assert.Equal(["StepSucceeded"], await check.History.Where(h => h.SagaId == saga.Id).Select(h => h.Type).ToListAsync());
        Assert.Equal(outbox.MessageId, (await check.Outbox.AsNoTracking().SingleAsync(o => o.Id == outbox.Id)).MessageId);
        Assert.Equal(T0.AddMinutes(1), (await check.Timers.AsNoTracking().SingleAsync(t => t.SagaId == saga.Id)).WakeAt);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WriteAndCommit_StaleVersionOrTimerGone_FailsAndCommitsNothing(bool staleVersion)
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        var saga = NewSaga();
        var other = NewSaga();
        await InsertAsync(saga, other);

        await using (var db = _store.Factory.Create())
        {
            var tracked = await db.Sagas.SingleAsync(s => s.Id == saga.Id);
            if (staleVersion)
            {
                // Another instance's transition commits after the read: the saga's update is the batch's first
                // statement and finds no row.
                await using var another = _store.Factory.Create();
                await another.Sagas.Where(s => s.Id == saga.Id).ExecuteUpdateAsync(u => u.SetProperty(s => s.ConcurrencyVersion, 2).SetProperty(s => s.Reason, "other"));
            }
            else
            {
                // The other saga's timer row is gone: its delete is the batch's last statement, after the saga's update
                // and the inserts have run, so only a rollback of the whole batch leaves them out.
                await using var another = _store.Factory.Create();
                await another.Timers.Where(t => t.SagaId == other.Id).ExecuteDeleteAsync();
            }

            tracked.Reason = "mine";
            tracked.ConcurrencyVersion++;
            db.History.Add(new HistoryRecord { SagaId = saga.Id, Sequence = 9, At = T0, Type = "Mine", Actor = "system" });
            db.Inbox.Add(new InboxRecord { MessageId = Guid.NewGuid(), SagaId = saga.Id, ReceivedAt = T0 });
            db.Timers.Remove(new SagaTimerRecord { SagaId = other.Id, WakeAt = T0 });
            await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => PostgresBatchWriter.TryWriteAndCommitAsync(db, default));
        }

        await using var check = _store.Factory.Create();
        Assert.Equal(staleVersion ? "other" : "why", (await check.Sagas.AsNoTracking().SingleAsync(s => s.Id == saga.Id)).Reason);
        Assert.False(await check.History.AnyAsync(h => h.SagaId == saga.Id));
        Assert.False(await check.Inbox.AnyAsync(i => i.SagaId == saga.Id));
        Assert.Equal(staleVersion, await check.Timers.AnyAsync(t => t.SagaId == other.Id));
    }

    [Fact]
    public async Task WriteAndCommit_InsideATransaction_IsRefused()
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        await using var db = _store.Factory.Create();
        await using var tx = await db.Database.BeginTransactionAsync();
        db.Sagas.Add(NewSaga());
        await Assert.ThrowsAsync<InvalidOperationException>(() => PostgresBatchWriter.TryWriteAndCommitAsync(db, default));
    }

    [Fact]
    public async Task Write_WithPayloadCipher_StoresDataEncryptedAndReadsItBack()
    {
        var key = new PayloadKey { Id = "k1", Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) };
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres, cipher: PayloadCipher.FromOptions(new EncryptionOptions { Keys = [key] }));
        var saga = NewSaga();
        await InsertAsync(saga);

        await using (var db = _store.Factory.Create())
        {
            AssertSameSaga(saga, await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == saga.Id));
        }

        await using var connection = new NpgsqlConnection(_store.Connection);
        await connection.OpenAsync();
        await using var read = new NpgsqlCommand("SELECT \"Data\" FROM sagas WHERE \"Id\" = $1", connection) { Parameters = { new() { Value = saga.Id } } };
        var stored = (string)(await read.ExecuteScalarAsync())!;
        Assert.True(PayloadCipher.IsEnvelope(stored), stored);
        Assert.DoesNotContain("secret-order", stored, StringComparison.Ordinal);
    }

    private async Task InsertAsync(params SagaInstance[] sagas)
    {
        await using var db = _store!.Factory.Create();
        await using var tx = await db.Database.BeginTransactionAsync();
        foreach (var saga in sagas)
        {
            db.Sagas.Add(saga);
            db.Timers.Add(new SagaTimerRecord { SagaId = saga.Id, WakeAt = T0 });
        }

        Assert.True(await PostgresBatchWriter.TryWriteAsync(db, default));
        await tx.CommitAsync();
    }

    private static SagaInstance NewSaga() => new()
    {
        Id = Guid.NewGuid(),
        Definition = TestDefinitions.Fast,
        Version = 1,
        State = SagaState.Running,
        Data = """{"orderId":"secret-order","n":1}""",
        Steps =
        [
            new StepState { Name = "reserve", Status = StepStatus.Running, Attempts = 1, StartedAt = T0, DueAt = T0.AddSeconds(30) },
            new StepState { Name = "charge", LastError = "x" },
        ],
        Reason = "why",
        BusinessKey = "order-1",
        Tenant = "t1",
        CreatedAt = T0,
        UpdatedAt = T0,
        NextWakeAt = T0.AddSeconds(30),
        HistorySequence = 2,
        Deferred = [new DeferredReply("StepSucceeded", "{}", T0)],
        Signals = [new ReceivedSignal("go", null, T0, "op", false)],
        ConcurrencyVersion = 1,
    };

    private static OutboxRecord NewOutbox(Guid sagaId, string? queue) =>
        new() { MessageId = Guid.NewGuid(), SagaId = sagaId, Queue = queue, MessageType = "ExecuteStep", Body = """{"b":1}""", CreatedAt = T0 };

    private static void AssertSameSaga(SagaInstance expected, SagaInstance actual)
    {
        Assert.Equal(
            (expected.Definition, expected.Version, expected.State, expected.Data, expected.Reason, expected.BusinessKey, expected.Tenant),
            (actual.Definition, actual.Version, actual.State, actual.Data, actual.Reason, actual.BusinessKey, actual.Tenant));
        Assert.Equal(
            (expected.CreatedAt, expected.UpdatedAt, expected.CompletedAt, expected.NextWakeAt, expected.DeadlineAt, expected.HistorySequence, expected.ConcurrencyVersion),
            (actual.CreatedAt, actual.UpdatedAt, actual.CompletedAt, actual.NextWakeAt, actual.DeadlineAt, actual.HistorySequence, actual.ConcurrencyVersion));
        Assert.Equal((expected.CompensationTrigger, expected.PausedFrom), (actual.CompensationTrigger, actual.PausedFrom));
        Assert.Equal(expected.Steps, actual.Steps);
        Assert.Equal(expected.Deferred, actual.Deferred);
        Assert.Equal(expected.Signals, actual.Signals);
    }
}
