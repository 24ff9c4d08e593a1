using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>The barrier rules, run once per provider by the derived classes.</summary>
public abstract class BarrierTests(ParticipantFixture fixture)
{
    protected ParticipantFixture Fixture { get; } = fixture;

    [SkippableFact]
    public async Task Action_FirstDelivery_AppliesEffectOnce()
    {
        var (sku, data) = await FreshSku(stock: 10, quantity: 3);
        var saga = Guid.NewGuid();

        var reply = await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, data), default);

        var succeeded = Assert.IsType<StepSucceeded>(reply);
        Assert.Equal(saga, succeeded.SagaId);
        Assert.Equal(3, succeeded.Output!.Value.GetProperty("reserved").GetInt32());
        Assert.Equal(7, await Fixture.Ledger.GetStockAsync(sku));
    }

    [SkippableFact]
    public async Task Action_DuplicateDelivery_ReturnsOriginalReply()
    {
        var (sku, data) = await FreshSku(stock: 10, quantity: 2);
        var saga = Guid.NewGuid();

        var first = Assert.IsType<StepSucceeded>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, data), default));
        var again = Assert.IsType<StepSucceeded>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, data), default));
        var retry = Assert.IsType<StepSucceeded>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 4, data), default));

        Assert.Equal(first.Output!.Value.GetRawText(), again.Output!.Value.GetRawText());
        Assert.Equal(first.Output!.Value.GetRawText(), retry.Output!.Value.GetRawText());
        Assert.Equal(4, retry.Attempt);
        Assert.Equal(8, await Fixture.Ledger.GetStockAsync(sku));
        Assert.Single(await Fixture.Ledger.GetReservationsAsync(sku));
    }

    [SkippableFact]
    public async Task Action_DuplicateOfBusinessFailure_ReturnsOriginalFailure()
    {
        var (sku, data) = await FreshSku(stock: 1, quantity: 5);
        var saga = Guid.NewGuid();

        var first = Assert.IsType<StepFailed>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, data), default));
        await Fixture.Ledger.SeedStockAsync(sku, 100);
        var again = Assert.IsType<StepFailed>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 2, data), default));

        Assert.False(first.Retryable);
        Assert.Equal(first.Reason, again.Reason);
        Assert.Equal(2, again.Attempt);
        Assert.Equal(100, await Fixture.Ledger.GetStockAsync(sku));
    }

    [SkippableFact]
    public async Task Compensation_WithoutAction_RepliesCompensatedWithoutEffect()
    {
        var (sku, data) = await FreshSku(stock: 10, quantity: 1);
        var saga = Guid.NewGuid();

        var reply = await Fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", 1, data), default);

        Assert.IsType<StepCompensated>(reply);
        Assert.Equal(10, await Fixture.Ledger.GetStockAsync(sku));
        Assert.Empty(await Fixture.Ledger.GetReservationsAsync(sku));
    }

    [SkippableFact]
    public async Task Action_AfterCompensation_IsRefused()
    {
        var (sku, data) = await FreshSku(stock: 10, quantity: 1);
        var saga = Guid.NewGuid();

        await Fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", 1, data), default);
        var late = Assert.IsType<StepFailed>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, data), default));
        var later = Assert.IsType<StepFailed>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 2, data), default));

        Assert.False(late.Retryable);
        Assert.Contains("refused: compensated before the action ran", late.Reason, StringComparison.Ordinal);
        Assert.Equal(late.Reason, later.Reason);
        Assert.Equal(10, await Fixture.Ledger.GetStockAsync(sku));
        Assert.Empty(await Fixture.Ledger.GetReservationsAsync(sku));
    }

    [SkippableFact]
    public async Task Compensation_DuplicateDelivery_UndoesOnce()
    {
        var (sku, data) = await FreshSku(stock: 10, quantity: 4);
        var saga = Guid.NewGuid();

        await Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, data), default);
        Assert.Equal(6, await Fixture.Ledger.GetStockAsync(sku));
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            Assert.IsType<StepCompensated>(await Fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", attempt, data), default));
        }

        Assert.Equal(10, await Fixture.Ledger.GetStockAsync(sku));
        Assert.True(Assert.Single(await Fixture.Ledger.GetReservationsAsync(sku)).Released);
    }

    [SkippableFact]
    public async Task Action_ConcurrentDuplicates_ApplyOnce()
    {
        var (sku, data) = await FreshSku(stock: 100, quantity: 7);
        var saga = Guid.NewGuid();

        var replies = await Task.WhenAll(Enumerable.Range(1, 8).Select(attempt =>
            Task.Run(() => Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", attempt, data), default))));

        Assert.All(replies, r => Assert.IsType<StepSucceeded>(r));
        Assert.Single(replies.Cast<StepSucceeded>().Select(r => r.Output!.Value.GetRawText()).Distinct());
        Assert.Equal(93, await Fixture.Ledger.GetStockAsync(sku));
    }

    [SkippableFact]
    public async Task Action_BusinessFailureRacingADuplicate_EveryReplyIsTheCommittedOutcome()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        var message = new ExecuteStep(saga, "order", 1, "gated", "fail-first", 1, Orders.Data());

        // The first delivery holds the step's key while its handler decides to fail; a duplicate arrives meanwhile.
        var first = Task.Run(() => Fixture.Probe.ExecuteAsync(message, default));
        await Fixture.Gates.ReachedAsync(saga).WaitAsync(TimeSpan.FromSeconds(30));
        var duplicate = Task.Run(() => Fixture.Probe.ExecuteAsync(message with { Attempt = 2 }, default));
        await Task.Delay(300);
        Fixture.Gates.Open(saga);
        var replies = await Task.WhenAll(first, duplicate).WaitAsync(TimeSpan.FromSeconds(30));

        // Whichever delivery recorded the step, both replies say what was committed, and only its writes remain.
        var committed = Assert.Single(await Fixture.BarrierOutcomesAsync(saga));
        var notes = await Fixture.ProbeNotesAsync(saga);
        if (committed == BarrierOutcomes.Failed)
        {
            Assert.All(replies, r => Assert.False(Assert.IsType<StepFailed>(r).Retryable));
            Assert.Empty(notes);
        }
        else
        {
            Assert.Equal(BarrierOutcomes.Succeeded, committed);
            Assert.All(replies, r => Assert.IsType<StepSucceeded>(r));
            Assert.Equal(["succeeded"], notes);
        }
    }

    [SkippableFact]
    public async Task Compensation_ConcurrentWithDuplicates_LedgerConsistent()
    {
        var (sku, data) = await FreshSku(stock: 100, quantity: 1);
        var sagas = Enumerable.Range(0, 20).Select(_ => Guid.NewGuid()).ToList();

        var work = sagas.SelectMany(saga => new Func<Task<object?>>[]
        {
            () => Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, data), default),
            () => Fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", 1, data), default),
            () => Fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 2, data), default),
            () => Fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", 2, data), default),
        });
        await Task.WhenAll(work.Select(w => Task.Run(w)));

        // Every saga was compensated, so whatever ran first, nothing may stay reserved.
        Assert.Equal(100, await Fixture.Ledger.GetStockAsync(sku));
        Assert.All(await Fixture.Ledger.GetReservationsAsync(sku), r => Assert.True(r.Released));
    }

    [SkippableFact]
    public async Task Action_BusinessFailure_LeavesNoEffect()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();

        var reply = Assert.IsType<StepFailed>(await Fixture.Probe.ExecuteAsync(Orders.Execute(saga, "probe", "write-then-fail", 1, Orders.Data()), default));

        Assert.False(reply.Retryable);
        Assert.Equal("probe declined after writing", reply.Reason);
        Assert.Equal(0, await ProbeDb.CountAsync(Fixture.Services, saga));
    }

    [SkippableFact]
    public async Task Action_RetryableFailure_LeavesNoBarrierRow()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();

        var first = Assert.IsType<StepFailed>(await Fixture.Probe.ExecuteAsync(Orders.Execute(saga, "probe", "retry-later", 1, Orders.Data()), default));
        Assert.True(first.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(5), first.RetryAfter);
        Assert.Equal(0, await ProbeDb.CountAsync(Fixture.Services, saga));

        Assert.IsType<StepSucceeded>(await Fixture.Probe.ExecuteAsync(Orders.Execute(saga, "probe", "retry-later", 2, Orders.Data()), default));
        Assert.Equal(1, await ProbeDb.CountAsync(Fixture.Services, saga));
    }

    [SkippableFact]
    public async Task Action_TransientExceptions_RetriedInFreshTransactions()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();

        Assert.IsType<StepSucceeded>(await Fixture.Probe.ExecuteAsync(Orders.Execute(saga, "probe", "flaky", 1, Orders.Data()), default));

        Assert.Equal(3, Fixture.Flaky.Calls(saga));
        Assert.Equal(1, await ProbeDb.CountAsync(Fixture.Services, saga));
    }

    [SkippableFact]
    public async Task Compensation_HandlerFails_RepliesFailureAndCanBeRetried()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        await Fixture.Probe.ExecuteAsync(Orders.Execute(saga, "probe", "flaky", 1, Orders.Data()), default);

        var first = Assert.IsType<CompensationFailed>(await Fixture.Probe.CompensateAsync(Orders.Compensate(saga, "probe", "unflaky", 1, Orders.Data()), default));
        var second = Assert.IsType<CompensationFailed>(await Fixture.Probe.CompensateAsync(Orders.Compensate(saga, "probe", "unflaky", 2, Orders.Data()), default));

        // No compensation row was kept, so the second delivery ran the handler again instead of replaying.
        Assert.False(first.Retryable);
        Assert.Equal(2, second.Attempt);
        Assert.Equal(1, await ProbeDb.CountAsync(Fixture.Services, saga));
    }

    [SkippableFact]
    public async Task Action_UnknownName_RepliesNonRetryableFailure()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");

        var reply = Assert.IsType<StepFailed>(await Fixture.Inventory.ExecuteAsync(Orders.Execute(Guid.NewGuid(), "reserve", "teleport", 1, Orders.Data()), default));

        Assert.False(reply.Retryable);
        Assert.Contains("teleport", reply.Reason, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Action_MalformedMessage_Throws()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");

        await Assert.ThrowsAsync<ArgumentException>(() => Fixture.Inventory.ExecuteAsync(Orders.Execute(Guid.Empty, "reserve", "reserve", 1, Orders.Data()), default));
    }

    protected async Task<(string Sku, System.Text.Json.JsonElement Data)> FreshSku(long stock, int quantity)
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var sku = Orders.Unique("sku");
        await Fixture.Ledger.SeedStockAsync(sku, stock);
        return (sku, Orders.Data(sku: sku, quantity: quantity));
    }
}

public sealed class SqliteBarrierTests(SqliteParticipantFixture fixture) : BarrierTests(fixture), IClassFixture<SqliteParticipantFixture>;

public sealed class PostgresBarrierTests(PostgresParticipantFixture fixture) : BarrierTests(fixture), IClassFixture<PostgresParticipantFixture>;
