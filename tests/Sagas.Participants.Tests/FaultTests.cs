using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>The test hooks other suites rely on to simulate silent, late and failing participants.</summary>
public sealed class FaultTests(SqliteParticipantFixture fixture) : IClassFixture<SqliteParticipantFixture>
{
    [Fact]
    public async Task Action_DropFault_RepliesNothingAndLeavesNoEffect()
    {
        var sku = Orders.Unique("sku");
        await fixture.Ledger.SeedStockAsync(sku, 5);
        var saga = Guid.NewGuid();
        fixture.Faults.Drop(f => f.SagaId == saga, times: 1);

        Assert.Null(await fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, Orders.Data(sku: sku)), default));
        Assert.Equal(5, await fixture.Ledger.GetStockAsync(sku));

        Assert.IsType<StepSucceeded>(await fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 2, Orders.Data(sku: sku)), default));
        Assert.Equal(4, await fixture.Ledger.GetStockAsync(sku));
    }

    [Fact]
    public async Task Action_HeldPastCompensation_IsRefusedWhenReleased()
    {
        var sku = Orders.Unique("sku");
        await fixture.Ledger.SeedStockAsync(sku, 5);
        var saga = Guid.NewGuid();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fixture.Faults.Hold(f => f.SagaId == saga && !f.IsCompensation, release.Task);

        var late = fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, Orders.Data(sku: sku)), default);
        Assert.IsType<StepCompensated>(await fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", 1, Orders.Data(sku: sku)), default));
        Assert.False(late.IsCompleted);
        release.SetResult();

        var reply = Assert.IsType<StepFailed>(await late);
        Assert.Contains("refused", reply.Reason, StringComparison.Ordinal);
        Assert.Equal(5, await fixture.Ledger.GetStockAsync(sku));
    }

    [Fact]
    public async Task Action_FirstAttemptsFault_RepliesRetryableThenSucceeds()
    {
        var sku = Orders.Unique("sku");
        await fixture.Ledger.SeedStockAsync(sku, 5);
        var saga = Guid.NewGuid();
        fixture.Faults.FailActionAttempts(f => f.SagaId == saga, firstAttempts: 2, retryAfter: TimeSpan.FromSeconds(1));

        var first = Assert.IsType<StepFailed>(await fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, Orders.Data(sku: sku)), default));
        Assert.IsType<StepFailed>(await fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 2, Orders.Data(sku: sku)), default));
        Assert.IsType<StepSucceeded>(await fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 3, Orders.Data(sku: sku)), default));

        Assert.True(first.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(1), first.RetryAfter);
        Assert.Equal(4, await fixture.Ledger.GetStockAsync(sku));
    }

    [Fact]
    public async Task Compensation_FailFault_RepliesFailureWithoutUndoing()
    {
        var sku = Orders.Unique("sku");
        await fixture.Ledger.SeedStockAsync(sku, 5);
        var saga = Guid.NewGuid();
        fixture.Faults.FailCompensation(f => f.SagaId == saga, retryable: false, times: 1);
        await fixture.Inventory.ExecuteAsync(Orders.Execute(saga, "reserve", "reserve", 1, Orders.Data(sku: sku)), default);

        var failed = Assert.IsType<CompensationFailed>(await fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", 1, Orders.Data(sku: sku)), default));
        Assert.False(failed.Retryable);
        Assert.Equal(4, await fixture.Ledger.GetStockAsync(sku));

        Assert.IsType<StepCompensated>(await fixture.Inventory.CompensateAsync(Orders.Compensate(saga, "reserve", "release", 2, Orders.Data(sku: sku)), default));
        Assert.Equal(5, await fixture.Ledger.GetStockAsync(sku));
    }
}
