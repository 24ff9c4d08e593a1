using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Contracts;
using Sagas.Coordinator.Persistence;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// The walking-skeleton scenarios, run once per infrastructure. Every scenario asserts on the participants'
/// own state (stock, balances, shipments), not only on what the coordinator says.
/// </summary>
public abstract class SagaScenarios<TBackend>(TBackend backend)
    where TBackend : SagaBackend
{
    private const string Reserve = "reserve-stock";
    private const string Charge = "charge-payment";
    private const string Book = "book-shipment";

    protected TBackend Backend { get; } = backend;

    [Fact]
    public async Task HappyPath_ThreeStepsSucceed_StockReservedBalanceChargedShipmentBooked()
    {
        var order = await Backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);

        var id = await Backend.StartAsync(TestDefinitions.Shipped, order);
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        Assert.Equal(98, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(975m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        var shipment = Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.False(shipment.Cancelled);
        Assert.All(saga.GetProperty("steps").EnumerateArray(), s => Assert.Equal("Succeeded", s.GetProperty("status").GetString()));
        Assert.Equal([Reserve, Charge, Book], (await Backend.GetHistoryAsync(id)).Where(h => h.Type == "StepSucceeded").Select(h => h.Step));
    }

    [Fact]
    public async Task Outbox_SagasFinished_EverySentRowIsDeletedSoon()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add(await Backend.StartAsync(TestDefinitions.Shipped, await Backend.NewOrderAsync(country: i % 2 == 0 ? "NL" : "AQ")));
        }

        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            await Backend.WaitForStateAsync(id, i % 2 == 0 ? "Completed" : "Compensated");
        }

        // Confirmed rows are deleted in batches at most a second after their confirm: within five seconds, none is left.
        var factory = Backend.Services.GetRequiredService<SagasDbFactory>();
        var left = -1;
        for (var attempt = 0; attempt < 50 && left != 0; attempt++)
        {
            await Task.Delay(100);
            await using var db = factory.Create();
            left = await db.Outbox.CountAsync(o => ids.Contains(o.SagaId));
        }

        Assert.Equal(0, left);
    }

    [Fact]
    public async Task BusinessFailureAtStep3_ShippingRefusesAQ_Step2ThenStep1CompensatedAndLedgerRestored()
    {
        var order = await Backend.NewOrderAsync(country: "AQ", stock: 100, balance: 1000m);

        var id = await Backend.StartAsync(TestDefinitions.Shipped, order);
        await Backend.WaitForStateAsync(id, "Compensated");

        Assert.Equal(100, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(1000m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        var history = await Backend.GetHistoryAsync(id);
        Assert.Equal([Charge, Reserve], history.Where(h => h.Type == "CompensationCommandSent").Select(h => h.Step));
        Assert.Equal([Charge, Reserve], history.Where(h => h.Type == "StepCompensated").Select(h => h.Step));
        AssertSequential(history);
    }

    [Fact]
    public async Task ParticipantNeverAnswers_StepTimesOut_RanAndTimedOutStepsCompensatedAndLateActionRefused()
    {
        var order = await Backend.NewOrderAsync(stock: 100, balance: 1000m);
        var id = Guid.NewGuid();
        var release = new TaskCompletionSource();
        // Attempt 1 of book-shipment is held back and delivered after the saga is undone; later attempts vanish.
        Backend.Faults.Hold(f => f.SagaId == id && f.Step == Book && !f.IsCompensation && f.Attempt == 1, release.Task);
        Backend.Faults.Drop(f => f.SagaId == id && f.Step == Book && !f.IsCompensation);

        await Backend.StartAsync(TestDefinitions.Fast, order, id);
        var saga = await Backend.WaitForStateAsync(id, "Compensated");

        var history = await Backend.GetHistoryAsync(id);
        Assert.Equal(3, history.Count(h => h.Type == "StepTimedOut" && h.Step == Book));
        Assert.Equal([Book, Charge, Reserve], history.Where(h => h.Type == "StepCompensated").Select(h => h.Step));
        Assert.Equal("Compensated", StepStatus(saga, Book));
        Assert.Equal(100, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(1000m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));

        // The late action now reaches shipping after its (null) compensation: the barrier must refuse it.
        release.SetResult();
        await WaitUntilAsync(async () => (await Backend.GetHistoryAsync(id)).Any(h => h.Type == "ReplyIgnored" && h.Step == Book && h.Detail!.Contains("refused", StringComparison.OrdinalIgnoreCase)));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Equal("Compensated", (await Backend.GetSagaAsync(id)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task RetryableFailureTwice_ThenSuccess_CompletesWithAttemptsRecordedAndBackoffHonoured()
    {
        var order = await Backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m);
        var id = Guid.NewGuid();
        Backend.Faults.FailActionAttempts(f => f.SagaId == id && f.Step == Charge, firstAttempts: 2, reason: "rate limited");

        await Backend.StartAsync(TestDefinitions.Fast, order, id);
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        Assert.Equal(3, StepAttempts(saga, Charge));
        Assert.Equal(975m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await Backend.Ledger.GetChargesAsync(order.CustomerId));
        var history = await Backend.GetHistoryAsync(id);
        var failed = history.Where(h => h.Type == "StepFailed" && h.Step == Charge).ToList();
        var sent = history.Where(h => h.Type == "StepCommandSent" && h.Step == Charge).ToList();
        Assert.Equal(2, failed.Count);
        Assert.Equal([1, 2, 3], sent.Select(h => h.Attempt ?? 0));

        // Policy: 300 ms before attempt 2, then 600 ms before attempt 3.
        Assert.True(sent[1].Time - failed[0].Time >= TimeSpan.FromMilliseconds(299), $"attempt 2 after {(sent[1].Time - failed[0].Time).TotalMilliseconds} ms");
        Assert.True(sent[2].Time - failed[1].Time >= TimeSpan.FromMilliseconds(599), $"attempt 3 after {(sent[2].Time - failed[1].Time).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task EveryMessageDeliveredTwice_HappyAndCompensatedSagas_NoDoubleEffect()
    {
        var happy = await Backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 3);
        var refused = await Backend.NewOrderAsync(country: "AQ", stock: 100, balance: 1000m, amount: 25m, quantity: 3);
        Backend.CoordinatorOptions.DuplicateDelivery = true;
        Backend.ReplyOptions.SendEveryReplyTwice = true;
        try
        {
            var happyId = await Backend.StartAsync(TestDefinitions.Shipped, happy);
            var refusedId = await Backend.StartAsync(TestDefinitions.Shipped, refused);
            await Backend.WaitForStateAsync(happyId, "Completed");
            await Backend.WaitForStateAsync(refusedId, "Compensated");

            // Let the second copies of the last messages arrive before looking.
            await Task.Delay(1000);
            Assert.Equal(97, await Backend.Ledger.GetStockAsync(happy.Sku));
            Assert.Equal(975m, await Backend.Ledger.GetBalanceAsync(happy.CustomerId));
            Assert.Single(await Backend.Ledger.GetChargesAsync(happy.CustomerId));
            Assert.Single(await Backend.Ledger.GetShipmentsAsync(happy.OrderId));
            Assert.Equal(100, await Backend.Ledger.GetStockAsync(refused.Sku));
            Assert.Equal(1000m, await Backend.Ledger.GetBalanceAsync(refused.CustomerId));
            Assert.Empty(await Backend.Ledger.GetShipmentsAsync(refused.OrderId));

            var happyHistory = await Backend.GetHistoryAsync(happyId);
            Assert.Equal([Reserve, Charge, Book], happyHistory.Where(h => h.Type == "StepSucceeded").Select(h => h.Step));
            Assert.Single(happyHistory, h => h.Type == "SagaCompleted");
            var refusedHistory = await Backend.GetHistoryAsync(refusedId);
            Assert.Equal([Charge, Reserve], refusedHistory.Where(h => h.Type == "StepCompensated").Select(h => h.Step));
            Assert.Single(refusedHistory, h => h.Type == "SagaCompensated");
        }
        finally
        {
            Backend.CoordinatorOptions.DuplicateDelivery = false;
            Backend.ReplyOptions.SendEveryReplyTwice = false;
        }
    }

    [Fact]
    public async Task CompensationKeepsFailing_SagaFailedVisibleThroughApi_NothingElseLost()
    {
        var order = await Backend.NewOrderAsync(country: "AQ", stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        Backend.Faults.FailCompensation(f => f.SagaId == id && f.Step == Charge, retryable: true, reason: "bank unavailable");

        await Backend.StartAsync(TestDefinitions.Fast, order, id);
        var saga = await Backend.WaitForStateAsync(id, "Failed");

        Assert.Contains(Charge, saga.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("bank unavailable", saga.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("CompensationFailed", StepStatus(saga, Charge));
        Assert.Equal(3, saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == Charge).GetProperty("compensationAttempts").GetInt32());
        // The refund never happened and reserve-stock was not undone behind its back: the ledger matches the saga's word.
        Assert.Equal("Succeeded", StepStatus(saga, Reserve));
        Assert.Equal(975m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Equal(98, await Backend.Ledger.GetStockAsync(order.Sku));
        var history = await Backend.GetHistoryAsync(id);
        Assert.Equal(3, history.Count(h => h.Type == "CompensationFailed" && h.Step == Charge));
        Assert.Equal("SagaFailed", history[^1].Type);
    }

    [Fact]
    public async Task StartPublishedOnBus_SameStartTwice_RunsOnce()
    {
        var order = await Backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        var data = System.Text.Json.JsonSerializer.SerializeToElement(order.ToJson());

        await Backend.Bus.Publish(new StartSaga(id, TestDefinitions.Shipped, data));
        await Backend.Bus.Publish(new StartSaga(id, TestDefinitions.Shipped, data));
        await Backend.WaitForStateAsync(id, "Completed");
        await Task.Delay(500);

        Assert.Equal(98, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(975m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Single(await Backend.GetHistoryAsync(id), h => h.Type == "SagaStarted");
    }

    protected static string? StepStatus(System.Text.Json.JsonElement saga, string step) =>
        saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == step).GetProperty("status").GetString();

    protected static int StepAttempts(System.Text.Json.JsonElement saga, string step) =>
        saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == step).GetProperty("attempts").GetInt32();

    protected static void AssertSequential(IReadOnlyList<HistoryLine> history) =>
        Assert.Equal(Enumerable.Range(1, history.Count), history.Select(h => h.Sequence));

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"condition not met within {seconds} s");
    }
}

/// <summary>The scenarios on SQLite with the in-memory transport (embedded mode).</summary>
public sealed class EmbeddedSagaScenarios(EmbeddedBackend backend) : SagaScenarios<EmbeddedBackend>(backend), IClassFixture<EmbeddedBackend>;

/// <summary>The scenarios in embedded mode with every payload encrypted and most of them claim-checked.</summary>
public sealed class ProtectedEmbeddedSagaScenarios(ProtectedEmbeddedBackend backend) : SagaScenarios<ProtectedEmbeddedBackend>(backend), IClassFixture<ProtectedEmbeddedBackend>;

/// <summary>The scenarios on PostgreSQL and RabbitMQ.</summary>
public sealed class DistributedSagaScenarios(DistributedBackend backend) : SagaScenarios<DistributedBackend>(backend), IClassFixture<DistributedBackend>;

/// <summary>The scenarios on PostgreSQL and RabbitMQ with every receive queue a quorum queue.</summary>
public sealed class QuorumSagaScenarios(QuorumBackend backend) : SagaScenarios<QuorumBackend>(backend), IClassFixture<QuorumBackend>
{
    [Fact]
    public async Task Queues_QuorumQueuesSwitchedOn_EveryReceiveQueueIsQuorum()
    {
        var (code, output) = await RabbitCtl.RunAsync("list_queues", "-p", Uri.UnescapeDataString(Backend.BrokerUri!.AbsolutePath.TrimStart('/')), "name", "type");
        Assert.Equal(0, code);
        foreach (var queue in new[] { "sagas-coordinator", "inventory", "payments", "shipping" })
        {
            Assert.Matches($@"(?m)^{queue}\s+quorum\s*$", output);
        }
    }
}
