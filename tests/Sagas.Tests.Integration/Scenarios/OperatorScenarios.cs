using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sagas.Contracts;
using Sagas.Coordinator.Engine;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Operator actions from every state they apply to and from states they do not (409, nothing applied), with the
/// history entry carrying actor and reason, and the participants' ledgers matching the outcome.
/// </summary>
public abstract class OperatorScenarios<TBackend>(TBackend backend)
    where TBackend : SagaBackend
{
    private const string Reserve = "reserve-stock";
    private const string Charge = "charge-payment";
    private const string Book = "book-shipment";

    protected TBackend Backend { get; } = backend;

    [Fact]
    public async Task Cancel_RunningSaga_CompensatesWhatRanEndsCancelledAndAudits()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var (id, release) = await StartHeldAtChargeAsync(order);

        var response = await PostAsync(id, "cancel", new { reason = "customer called to cancel" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Backend.WaitForStateAsync(id, "Cancelled");
        release.SetResult();

        await AssertLedgerUntouchedAsync(order, 50, 500m);

        // The released charge is refused by the barrier and its late reply recorded; only then is the history complete
        // (on a busy machine that took longer than the ledger check's pause).
        await WaitForHistoryAsync(id, h => h.Type == HistoryTypes.ReplyIgnored && h.Step == Charge);
        var history = await Backend.GetHistoryAsync(id);
        AssertAudited(history, HistoryTypes.CancelRequested, "customer called to cancel");
        Assert.Equal([Charge, Reserve], history.Where(h => h.Type == "StepCompensated").Select(h => h.Step));
        var cancelled = Assert.Single(history, h => h.Type == "SagaCancelled");
        Assert.True(cancelled.Sequence > history.Last(h => h.Type == "StepCompensated").Sequence);

        // Cancelled is terminal: a second cancel, a pause or a resume do not fit and change nothing.
        var count = history.Count;
        await AssertConflictAsync(id, "cancel", new { reason = "again" });
        await AssertConflictAsync(id, "pause", new { reason = "too late" });
        await AssertConflictAsync(id, "resume", new { reason = "not paused" });
        Assert.Equal(count, (await Backend.GetHistoryAsync(id)).Count);
    }

    [Fact]
    public async Task PauseResume_RunningSaga_NoNewCommandsWhilePausedRepliesRecordedThenCompletes()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var (id, release) = await StartHeldAtChargeAsync(order);

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(id, "pause", new { reason = "investigating a payments incident" })).StatusCode);
        await Backend.WaitForStateAsync(id, "Paused");
        await AssertConflictAsync(id, "pause", new { reason = "already paused" });

        // The held charge now completes: its reply is recorded, but book-shipment must not be sent while paused.
        release.SetResult();
        await WaitForHistoryAsync(id, h => h.Type == HistoryTypes.ReplyDeferred && h.Step == Charge);
        await Task.Delay(500);
        var paused = await Backend.GetHistoryAsync(id);
        Assert.DoesNotContain(paused, h => h.Type == HistoryTypes.StepCommandSent && h.Step == Book);
        Assert.Equal("Paused", (await Backend.GetSagaAsync(id)).GetProperty("state").GetString());

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(id, "resume", new { reason = "incident resolved" })).StatusCode);
        await Backend.WaitForStateAsync(id, "Completed");
        await AssertConflictAsync(id, "resume", new { reason = "not paused any more" });

        Assert.Equal(48, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(475m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
        var history = await Backend.GetHistoryAsync(id);
        AssertAudited(history, HistoryTypes.SagaPaused, "investigating a payments incident");
        AssertAudited(history, HistoryTypes.SagaResumed, "incident resolved");
        var resumedAt = history.First(h => h.Type == HistoryTypes.SagaResumed).Sequence;
        Assert.True(history.First(h => h.Type == HistoryTypes.StepCommandSent && h.Step == Book).Sequence > resumedAt);
    }

    [Fact]
    public async Task Retry_FailedCompensation_SucceedsOnOperatorRetryAndLedgerRestored()
    {
        var order = await Backend.NewOrderAsync(country: "AQ", stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        Backend.Faults.FailCompensation(f => f.SagaId == id && f.Step == Charge, retryable: true, times: 3, reason: "bank offline");

        await Backend.StartAsync(TestDefinitions.Fast, order, id);
        await Backend.WaitForStateAsync(id, "Failed");
        Assert.Equal(475m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        await AssertConflictAsync(id, "retry", new { reason = "wrong step", step = Book });

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(id, "retry", new { reason = "bank is back", step = Charge })).StatusCode);
        await Backend.WaitForStateAsync(id, "Compensated");

        await AssertLedgerUntouchedAsync(order, 50, 500m);
        var history = await Backend.GetHistoryAsync(id);
        AssertAudited(history, HistoryTypes.RetryRequested, "bank is back");
        Assert.Equal("SagaCompensated", history[^1].Type);
        await AssertConflictAsync(id, "retry", new { reason = "nothing left" });
    }

    [Fact]
    public async Task SkipCompensation_FailedSaga_ResolvedByHandRollbackGoesOnToCompensated()
    {
        var order = await Backend.NewOrderAsync(country: "AQ", stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        Backend.Faults.FailCompensation(f => f.SagaId == id && f.Step == Charge, retryable: false, reason: "refund rejected by bank");

        await Backend.StartAsync(TestDefinitions.Fast, order, id);
        await Backend.WaitForStateAsync(id, "Failed");
        await AssertConflictAsync(id, $"compensations/{Reserve}/skip", new { reason = "not the failed one" });

        var response = await PostAsync(id, $"compensations/{Charge}/skip", new { reason = "refunded by hand, ticket FIN-42" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Backend.WaitForStateAsync(id, "Compensated");

        // The refund was done outside the system: the ledger still shows the charge, stock is released by the saga.
        Assert.Equal(475m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Equal(50, await Backend.Ledger.GetStockAsync(order.Sku));
        var saga = await Backend.GetSagaAsync(id);
        Assert.Equal("CompensationSkipped", saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == Charge).GetProperty("status").GetString());
        AssertAudited(await Backend.GetHistoryAsync(id), HistoryTypes.CompensationSkipped, "refunded by hand, ticket FIN-42");
    }

    [Fact]
    public async Task Signal_SagaNotWaiting_RecordedAndReportedNotLost()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m);
        var id = await Backend.StartAsync(TestDefinitions.Shipped, order);
        await Backend.WaitForStateAsync(id, "Completed");

        var response = await PostAsync(id, "signals/packed", new { payload = new { by = "warehouse-7" } });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("packed", body.RootElement.GetProperty("note").GetString(), StringComparison.Ordinal);
        var signal = Assert.Single(body.RootElement.GetProperty("saga").GetProperty("signals").EnumerateArray());
        Assert.Equal("packed", signal.GetProperty("name").GetString());
        Assert.Contains(await Backend.GetHistoryAsync(id), h => h.Type == HistoryTypes.SignalReceived && h.Detail!.StartsWith("packed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ChangeDeadline_RunningSagaDeadlineMovedIntoThePast_CompensatesWithDeadlineTrigger()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var (id, release) = await StartHeldAtChargeAsync(order);

        var response = await Backend.Client.PutAsJsonAsync(new Uri($"/api/sagas/{id}/deadline", UriKind.Relative),
            new { deadlineAt = DateTimeOffset.UtcNow.AddSeconds(-1), reason = "order expired" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var saga = await Backend.WaitForStateAsync(id, "Compensated");
        release.SetResult();

        Assert.Equal("Deadline", saga.GetProperty("compensationTrigger").GetString());
        await AssertLedgerUntouchedAsync(order, 50, 500m);
        AssertAudited(await Backend.GetHistoryAsync(id), HistoryTypes.DeadlineChanged, "order expired");
        var late = await Backend.Client.PutAsJsonAsync(new Uri($"/api/sagas/{id}/deadline", UriKind.Relative), new { deadlineAt = (DateTimeOffset?)null, reason = "too late" });
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
    }

    [Fact]
    public async Task OperatorActions_BadInput_400NamingFieldAnd404ForUnknownSaga()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m);
        var id = await Backend.StartAsync(TestDefinitions.Shipped, order);
        await Backend.WaitForStateAsync(id, "Completed");

        var missingReason = await PostAsync(id, "cancel", new { });
        Assert.Equal(HttpStatusCode.BadRequest, missingReason.StatusCode);
        Assert.Contains("reason", await missingReason.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var badDeadline = await Backend.Client.PutAsJsonAsync(new Uri($"/api/sagas/{id}/deadline", UriKind.Relative), new { deadlineAt = "tomorrow", reason = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, badDeadline.StatusCode);
        Assert.Contains("deadlineAt", await badDeadline.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(Guid.NewGuid(), "cancel", new { reason = "who?" })).StatusCode);
    }

    [Fact]
    public async Task CancelOverBus_RunningSaga_CancelledWithServiceAsActor()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var (id, release) = await StartHeldAtChargeAsync(order);

        await Backend.Bus.Publish(new CancelSaga(id, "fraud check failed", "fraud-service"));
        await Backend.WaitForStateAsync(id, "Cancelled");
        release.SetResult();

        await AssertLedgerUntouchedAsync(order, 50, 500m);
        var entry = Assert.Single(await Backend.GetHistoryAsync(id), h => h.Type == HistoryTypes.CancelRequested);
        Assert.Equal("fraud-service", entry.Actor);
        Assert.Equal("fraud check failed", entry.Detail);
    }

    [Fact]
    public async Task Cancel_PausedSaga_UnpausesAndCompensatesEndsCancelled()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var (id, release) = await StartHeldAtChargeAsync(order);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(id, "pause", new { reason = "hold everything" })).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(id, "cancel", new { reason = "order withdrawn while paused" })).StatusCode);
        await Backend.WaitForStateAsync(id, "Cancelled");
        release.SetResult();

        await AssertLedgerUntouchedAsync(order, 50, 500m);
        AssertAudited(await Backend.GetHistoryAsync(id), HistoryTypes.CancelRequested, "order withdrawn while paused");
    }

    [Fact]
    public async Task PauseResume_CompensatingSaga_RollbackWaitsThenFinishes()
    {
        var order = await Backend.NewOrderAsync(country: "AQ", stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Backend.Faults.Hold(f => f.SagaId == id && f.Step == Charge && f.IsCompensation, release.Task);
        await Backend.StartAsync(TestDefinitions.Shipped, order, id);
        await Backend.WaitForStateAsync(id, "Compensating");

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(id, "pause", new { reason = "check the refund first" })).StatusCode);
        release.SetResult();
        await WaitForHistoryAsync(id, h => h.Type == HistoryTypes.ReplyDeferred && h.Step == Charge);
        Assert.DoesNotContain(await Backend.GetHistoryAsync(id), h => h.Type == HistoryTypes.CompensationCommandSent && h.Step == Reserve);

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(id, "resume", new { reason = "refund verified" })).StatusCode);
        await Backend.WaitForStateAsync(id, "Compensated");
        await AssertLedgerUntouchedAsync(order, 50, 500m);
        AssertAudited(await Backend.GetHistoryAsync(id), HistoryTypes.SagaPaused, "check the refund first");
    }

    [Fact]
    public async Task Retry_ScheduledRetry_SentAtOnceInsteadOfWaitingForBackoff()
    {
        var order = await Backend.NewOrderAsync(stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        // A 5-minute retry-after (capped by the policy at 5 s for order-fulfilment) keeps the step waiting; the operator does not wait.
        Backend.Faults.FailActionAttempts(f => f.SagaId == id && f.Step == Charge, firstAttempts: 1, retryAfter: TimeSpan.FromMinutes(5), reason: "rate limited");
        await Backend.StartAsync(TestDefinitions.Shipped, order, id);
        await WaitForHistoryAsync(id, h => h.Type == HistoryTypes.StepRetryScheduled && h.Step == Charge);

        var response = await PostAsync(id, "retry", new { reason = "limit lifted", step = Charge });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var saga = await Backend.WaitForStateAsync(id, "Completed");

        Assert.Equal(475m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Equal(2, saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == Charge).GetProperty("attempts").GetInt32());
        var history = await Backend.GetHistoryAsync(id);
        AssertAudited(history, HistoryTypes.RetryRequested, "limit lifted");

        // Attempt 2 went out with the operator's retry, well before the 5 s back-off would have sent it.
        var scheduled = history.First(h => h.Type == HistoryTypes.StepRetryScheduled && h.Step == Charge).Time;
        var second = history.First(h => h.Type == HistoryTypes.StepCommandSent && h.Step == Charge && h.Attempt == 2);
        Assert.Equal(history.First(h => h.Type == HistoryTypes.RetryRequested).Time, second.Time);
        Assert.True(second.Time - scheduled < TimeSpan.FromSeconds(4), $"attempt 2 sent {(second.Time - scheduled).TotalSeconds:0.0} s after the retry was scheduled");
    }

    [Fact]
    public async Task SkipCompensation_InDoubtWhileCompensating_RollbackGoesOnToCompensated()
    {
        var order = await Backend.NewOrderAsync(country: "AQ", stock: 50, balance: 500m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        // The refund never answers: it is in doubt until a person decides.
        Backend.Faults.Drop(f => f.SagaId == id && f.Step == Charge && f.IsCompensation);
        await Backend.StartAsync(TestDefinitions.Shipped, order, id);
        await WaitForHistoryAsync(id, h => h.Type == HistoryTypes.CompensationCommandSent && h.Step == Charge);

        var response = await PostAsync(id, $"compensations/{Charge}/skip", new { reason = "refund confirmed with the bank by phone" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Backend.WaitForStateAsync(id, "Compensated");

        Assert.Equal(50, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(475m, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        AssertAudited(await Backend.GetHistoryAsync(id), HistoryTypes.CompensationSkipped, "refund confirmed with the bank by phone");
    }

    /// <summary>Starts a saga whose charge-payment action is held inside the participant, so the saga stays Running.</summary>
    private async Task<(Guid Id, TaskCompletionSource Release)> StartHeldAtChargeAsync(Order order)
    {
        var id = Guid.NewGuid();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Backend.Faults.Hold(f => f.SagaId == id && f.Step == Charge && !f.IsCompensation, release.Task);
        await Backend.StartAsync(TestDefinitions.Shipped, order, id);
        await WaitForHistoryAsync(id, h => h.Type == HistoryTypes.StepCommandSent && h.Step == Charge);
        return (id, release);
    }

    private async Task AssertLedgerUntouchedAsync(Order order, long stock, decimal balance)
    {
        // A held action released after the rollback is refused by the barrier: give it time to try.
        await Task.Delay(500);
        Assert.Equal(stock, await Backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(balance, await Backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync(order.OrderId));
    }

    private Task<HttpResponseMessage> PostAsync(Guid id, string action, object body) =>
        Backend.Client.PostAsJsonAsync(new Uri($"/api/sagas/{id}/{action}", UriKind.Relative), body);

    private async Task AssertConflictAsync(Guid id, string action, object body)
    {
        var response = await PostAsync(id, action, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Conflict, $"{action}: expected 409, got {(int)response.StatusCode} {text}");
        Assert.Contains("application/problem+json", response.Content.Headers.ContentType?.ToString() ?? "", StringComparison.Ordinal);
    }

    private static void AssertAudited(IReadOnlyList<HistoryLine> history, string type, string reason)
    {
        var entry = Assert.Single(history, h => h.Type == type);
        Assert.EndsWith(reason, entry.Detail, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(entry.Actor));
        Assert.NotEqual(SagaEngine.SystemActor, entry.Actor);
    }

    private async Task WaitForHistoryAsync(Guid id, Func<HistoryLine, bool> match)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if ((await Backend.GetHistoryAsync(id)).Any(match))
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"history of {id} never matched:\n{string.Join('\n', await Backend.GetHistoryAsync(id))}");
    }
}

/// <summary>Operator actions on SQLite with the in-memory transport.</summary>
public sealed class EmbeddedOperatorScenarios(EmbeddedBackend backend) : OperatorScenarios<EmbeddedBackend>(backend), IClassFixture<EmbeddedBackend>;

/// <summary>Operator actions on PostgreSQL and RabbitMQ.</summary>
public sealed class DistributedOperatorScenarios(DistributedBackend backend) : OperatorScenarios<DistributedBackend>(backend), IClassFixture<DistributedBackend>;
