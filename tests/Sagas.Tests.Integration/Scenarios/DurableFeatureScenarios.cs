using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sagas.Contracts;
using Sagas.Participants;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Parallel groups, wait steps and signals, deadlines, step kinds, retry-after, heartbeats and data flow, end to
/// end, asserting on the sample participants' own state as well as on the saga.
/// </summary>
public abstract class DurableFeatureScenarios<TBackend>(TBackend backend)
    where TBackend : SagaBackend
{
    private const string Reserve = "reserve-stock";
    private const string Charge = "charge-payment";
    private const string Wait = "wait-packed";
    private const string Book = "book-shipment";

    protected TBackend Backend { get; } = backend;

    [Fact]
    public async Task ParallelGroup_BothBranchesSucceed_FanOutFanInThenWaitThenBook()
    {
        var order = await Backend.NewOrderAsync(stock: 40, balance: 300m, amount: 25m, quantity: 2);

        var id = await Backend.StartAsync(TestDefinitions.Parallel, order);
        await WaitForHistoryAsync(id, h => h.Type == "WaitStarted");
        Assert.Equal(38, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(275m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));

        var signal = await SignalAsync(id, "packed", new { packedBy = "warehouse-7", parcels = 2 }, "boxed at the dock");
        Assert.Equal(HttpStatusCode.OK, signal.StatusCode);
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Equal("warehouse-7", saga.GetProperty("data").GetProperty("packedBy").GetString());
        Assert.Equal(2, saga.GetProperty("data").GetProperty("reserve-stock").GetProperty("reserved").GetInt32());
        var history = await Backend.GetHistoryAsync(id);
        var sent = history.Where(h => h.Type == "StepCommandSent").ToList();
        var firstSuccess = history.First(h => h.Type == "StepSucceeded").Sequence;

        // Fan-out: both branches were sent before either answered. Fan-in: the wait began after both succeeded.
        Assert.Equal([Charge, Reserve], sent.Take(2).Select(h => h.Step).Order(StringComparer.Ordinal));
        Assert.All(sent.Take(2), h => Assert.True(h.Sequence < firstSuccess));
        var waitStarted = history.Single(h => h.Type == "WaitStarted").Sequence;
        Assert.All(history.Where(h => h.Type == "StepSucceeded" && h.Step is Reserve or Charge), h => Assert.True(h.Sequence < waitStarted));
        var consumed = history.Single(h => h.Type == "SignalConsumed");
        Assert.Equal(Wait, consumed.Step);
        Assert.True(history.Single(h => h.Type == "StepCommandSent" && h.Step == Book).Sequence > consumed.Sequence);
    }

    [Fact]
    public async Task ParallelGroup_PaymentDeclinedWhileStockReserved_OnlyReserveCompensatedStockRestoredNoCharge()
    {
        var order = await Backend.NewOrderAsync(stock: 40, balance: 10m, amount: 25m, quantity: 3);

        var id = await Backend.StartAsync(TestDefinitions.Parallel, order);
        var saga = await Backend.WaitForStateAsync(id, "Compensated");

        Assert.Equal(40, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(10m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetChargesAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Contains("payment declined", saga.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var history = await Backend.GetHistoryAsync(id);
        Assert.Equal([Reserve], history.Where(h => h.Type == "CompensationCommandSent").Select(h => h.Step));
        Assert.Equal([Reserve], history.Where(h => h.Type == "StepCompensated").Select(h => h.Step));
        Assert.DoesNotContain(history, h => h.Type == "WaitStarted");
    }

    [Fact]
    public async Task WaitStep_SignalOnBus_CompletesWithPayloadMerged()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 1);

        var id = await Backend.StartAsync(TestDefinitions.Parallel, order);
        await WaitForHistoryAsync(id, h => h.Type == "WaitStarted");
        var payload = JsonSerializer.SerializeToElement(new { packedBy = "robot-3" });
        await Backend.Bus.Publish(new SignalSaga(id, "packed", payload, "warehouse-service", "scanned"));
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        Assert.Equal("robot-3", saga.GetProperty("data").GetProperty("packedBy").GetString());
        Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        var received = Assert.Single(await Backend.GetHistoryAsync(id), h => h.Type == "SignalReceived");
        Assert.Equal("warehouse-service", received.Actor);
    }

    [Fact]
    public async Task WaitStep_SignalArrivesBeforeWaitBegins_KeptAndConsumedWhenWaitStarts()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 1);
        var id = Guid.NewGuid();
        var release = new TaskCompletionSource();
        Backend.Faults.Hold(f => f.SagaId == id && f.Step == Reserve && !f.IsCompensation, release.Task);

        await Backend.StartAsync(TestDefinitions.Parallel, order, id);
        var response = await SignalAsync(id, "packed", new { packedBy = "early-bird" }, null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var early = await Backend.GetSagaAsync(id);
        Assert.Equal("Running", early.GetProperty("state").GetString());
        Assert.False(Assert.Single(early.GetProperty("signals").EnumerateArray()).GetProperty("consumed").GetBoolean());

        release.SetResult();
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        Assert.True(Assert.Single(saga.GetProperty("signals").EnumerateArray()).GetProperty("consumed").GetBoolean());
        Assert.Equal("early-bird", saga.GetProperty("data").GetProperty("packedBy").GetString());
        var history = await Backend.GetHistoryAsync(id);
        Assert.True(history.Single(h => h.Type == "SignalReceived").Sequence < history.Single(h => h.Type == "WaitStarted").Sequence);
        Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
    }

    [Fact]
    public async Task WaitStep_NoSignalWithinTimeout_EarlierStepsCompensatedLedgerRestored()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 4);

        var id = await Backend.StartAsync(TestDefinitions.WaitFast, order);
        var saga = await Backend.WaitForStateAsync(id, "Compensated");

        Assert.Equal(10, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(100m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Equal("Timeout", saga.GetProperty("compensationTrigger").GetString());
        var history = await Backend.GetHistoryAsync(id);
        Assert.Single(history, h => h.Type == "WaitTimedOut" && h.Step == Wait);
        Assert.Equal([Charge, Reserve], history.Where(h => h.Type == "StepCompensated").Select(h => h.Step).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(history, h => h.Type == "StepCommandSent" && h.Step == Book);
    }

    [Fact]
    public async Task Deadline_FromBusStart_PassesWhileWaiting_CompensatesAndRestoresLedger()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 2);
        var id = Guid.NewGuid();

        await Backend.Bus.Publish(new StartSaga(id, TestDefinitions.Parallel, JsonSerializer.SerializeToElement(order.ToJson()), Deadline: TimeSpan.FromSeconds(2)));
        var saga = await Backend.WaitForStateAsync(id, "Compensated");

        Assert.Equal("Deadline", saga.GetProperty("compensationTrigger").GetString());
        Assert.Equal(10, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(100m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        var history = await Backend.GetHistoryAsync(id);
        var started = history.First(h => h.Type == "SagaStarted").Time;
        var compensation = history.First(h => h.Type == "CompensationStarted");
        Assert.True(compensation.Time - started >= TimeSpan.FromSeconds(1.9), $"compensation began {(compensation.Time - started).TotalMilliseconds} ms after the start");
        Assert.Equal([Charge, Reserve], history.Where(h => h.Type == "StepCompensated").Select(h => h.Step).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task PivotThenRetriable_RetriableFailsThreeTimes_RetriedUntilItSucceedsCompleted()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 1);
        var id = Guid.NewGuid();
        Backend.Faults.FailActionAttempts(f => f.SagaId == id && f.Step == Book, firstAttempts: 3, reason: "carrier API down");

        await Backend.StartAsync(TestDefinitions.Pivot, order, id);
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        // maxAttempts is 2, but a retriable step is not limited by it.
        Assert.Equal(4, StepAttempts(saga, Book));
        Assert.Equal(9, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(80m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Equal(3, (await Backend.GetHistoryAsync(id)).Count(h => h.Type == "StepFailed" && h.Step == Book));
    }

    [Fact]
    public async Task Pivot_PivotStepFails_EarlierStepCompensatedNothingCharged()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 5m, amount: 20m, quantity: 3);

        var id = await Backend.StartAsync(TestDefinitions.Pivot, order);
        await Backend.WaitForStateAsync(id, "Compensated");

        Assert.Equal(10, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(5m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetChargesAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Equal([Reserve], (await Backend.GetHistoryAsync(id)).Where(h => h.Type == "StepCompensated").Select(h => h.Step));
    }

    [Fact]
    public async Task RetryAfter_ParticipantAsksForOneSecond_NextAttemptWaitsThatLong()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 1);
        var id = Guid.NewGuid();
        Backend.Faults.FailActionAttempts(f => f.SagaId == id && f.Step == Charge, firstAttempts: 1, retryAfter: TimeSpan.FromSeconds(1), reason: "rate limited");

        await Backend.StartAsync(TestDefinitions.Fast, order, id);
        await Backend.WaitForStateAsync(id, "Completed");

        var history = await Backend.GetHistoryAsync(id);
        var gap = history.Single(h => h.Type == "StepCommandSent" && h.Step == Charge && h.Attempt == 2).Time - history.Single(h => h.Type == "StepFailed" && h.Step == Charge).Time;

        // The policy alone would wait 300 ms.
        Assert.True(gap >= TimeSpan.FromMilliseconds(999), $"attempt 2 after {gap.TotalMilliseconds} ms");
        Assert.Equal(80m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
    }

    [Fact]
    public async Task RetryAfter_LongerThanMaxDelay_CappedByPolicy()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 1);
        var id = Guid.NewGuid();
        Backend.Faults.FailActionAttempts(f => f.SagaId == id && f.Step == Charge, firstAttempts: 1, retryAfter: TimeSpan.FromMinutes(5), reason: "come back in five minutes");

        await Backend.StartAsync(TestDefinitions.Fast, order, id);
        await Backend.WaitForStateAsync(id, "Completed", TimeSpan.FromSeconds(20));

        var history = await Backend.GetHistoryAsync(id);
        var gap = history.Single(h => h.Type == "StepCommandSent" && h.Step == Charge && h.Attempt == 2).Time - history.Single(h => h.Type == "StepFailed" && h.Step == Charge).Time;

        // order-fast's maxDelay is 2 s.
        Assert.InRange(gap, TimeSpan.FromMilliseconds(1999), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Heartbeat_WorkOutlastsStepTimeout_HeartbeatsKeepAttemptAliveNoTimeout()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 1);
        var id = Guid.NewGuid();
        var release = new TaskCompletionSource();
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Backend.Faults.Add(f => f.SagaId == id && f.Step == Book && !f.IsCompensation && f.Attempt == 1, 1, _ =>
        {
            received.TrySetResult();
            return FaultDecision.HoldUntil(release.Task);
        });

        await Backend.StartAsync(TestDefinitions.Fast, order, id);

        // The test plays the busy participant from the moment the participant holds the command: order-fast's 1.5 s
        // timeout, counted from when the command was sent, would fire three times over without these heartbeats.
        // Each extends by 5 s, so only the first one races the timeout, and it leaves at once.
        await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var coordinator = await Backend.SendEndpointAsync(Endpoints.Coordinator);
        for (var i = 0; i < 6; i++)
        {
            await coordinator.Send(new StepHeartbeat(id, Book, 1, TimeSpan.FromSeconds(5)));
            await Task.Delay(700);
        }

        release.SetResult();
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        var history = await Backend.GetHistoryAsync(id);

        // On a failure, the history's times show which heartbeat came too late (the first must land within 1.5 s).
        Assert.True(StepAttempts(saga, Book) == 1, $"{Book} ran {StepAttempts(saga, Book)} attempts:\n{string.Join('\n', history)}");
        Assert.DoesNotContain(history, h => h.Type == "StepTimedOut");
        Assert.Equal(6, history.Count(h => h.Type == "StepHeartbeat" && h.Step == Book));
        Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
    }

    [Fact]
    public async Task DataFlow_LaterStepGetsEarlierOutputAndOnlyItsDataFields()
    {
        var order = await Backend.NewOrderAsync(stock: 10, balance: 100m, amount: 20m, quantity: 3);
        var id = Guid.NewGuid();
        var seen = new ConcurrentQueue<JsonElement>();
        Backend.Faults.Observe(f => f.SagaId == id && f.Step == Book && !f.IsCompensation, f => seen.Enqueue(f.Data!.Value.Clone()));

        await Backend.StartAsync(TestDefinitions.DataFlow, order, id);
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        var data = Assert.Single(seen);
        Assert.Equal(["country", "orderId", "reserve-stock"], data.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(3, data.GetProperty("reserve-stock").GetProperty("reserved").GetInt32());
        Assert.Equal(order.OrderId, data.GetProperty("orderId").GetString());

        // The saga keeps all of its data, with every step's output under the step's name.
        var stored = saga.GetProperty("data");
        Assert.Equal(order.CustomerId, stored.GetProperty("customerId").GetString());
        Assert.Equal("NL", stored.GetProperty("book-shipment").GetProperty("country").GetString());
        Assert.Equal(order.OrderId, Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId)).OrderId);
    }

    private Task<HttpResponseMessage> SignalAsync(Guid id, string name, object payload, string? reason) =>
        Backend.Client.PostAsJsonAsync(new Uri($"/api/sagas/{id}/signals/{name}", UriKind.Relative), new { payload, reason });

    private async Task WaitForHistoryAsync(Guid id, Func<HistoryLine, bool> match, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if ((await Backend.GetHistoryAsync(id)).Any(match))
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"saga {id}: expected history entry not seen within {seconds} s:\n{string.Join('\n', await Backend.GetHistoryAsync(id))}");
    }

    private static int StepAttempts(JsonElement saga, string step) =>
        saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == step).GetProperty("attempts").GetInt32();
}

/// <summary>The durable features on SQLite with the in-memory transport (embedded mode).</summary>
public sealed class EmbeddedDurableFeatureScenarios(EmbeddedBackend backend) : DurableFeatureScenarios<EmbeddedBackend>(backend), IClassFixture<EmbeddedBackend>;

/// <summary>The durable features on PostgreSQL and RabbitMQ.</summary>
public sealed class DistributedDurableFeatureScenarios(DistributedBackend backend) : DurableFeatureScenarios<DistributedBackend>(backend), IClassFixture<DistributedBackend>;
