using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Hand-written AMQP messages on the coordinator's queue (real RabbitMQ): garbage must be set aside with its
/// reason, never crash or wedge the coordinator; a correct hand-written start (the documented wire protocol) must work.
/// </summary>
public sealed class PoisonMessageScenarios(DistributedBackend backend, ITestOutputHelper output) : IClassFixture<DistributedBackend>, IAsyncLifetime
{
    private const string Queue = "sagas-coordinator";
    private const string ErrorQueue = Queue + "_error";
    private const string SkippedQueue = Queue + "_skipped";
    private static readonly TimeSpan MoveTimeout = TimeSpan.FromSeconds(20);

    private RawBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await RawBroker.ConnectAsync(backend.BrokerUri!);

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task MalformedJson_OnCoordinatorQueue_MovedToErrorQueueWithReasonAndCoordinatorKeepsWorking()
    {
        var id = Guid.NewGuid().ToString();

        await _broker.PublishAsync(Queue, "{\"messageId\": \"" + id + "\", \"messageType\": [\"urn:message:Sagas.Contracts:StartSaga\"], \"message\": {", id);

        var moved = await _broker.WaitForMessageAsync(ErrorQueue, id, MoveTimeout);
        output.WriteLine(moved.ToString());
        Assert.Equal("fault", moved.Header("MT-Reason"));
        // MassTransit 8 reports the innermost exception: System.Text.Json.JsonReaderException with the position.
        Assert.Contains("Json", moved.Header("MT-Fault-ExceptionType"), StringComparison.Ordinal);
        Assert.Contains("JSON", moved.Header("MT-Fault-Message"), StringComparison.Ordinal);
        Assert.StartsWith("{\"messageId\"", moved.Body, StringComparison.Ordinal);
        await AssertCoordinatorStillWorksAsync();
    }

    [Fact]
    public async Task UnknownMessageType_ValidEnvelope_MovedToSkippedQueueAndCoordinatorKeepsWorking()
    {
        var id = Guid.NewGuid();
        var body = RawBroker.Envelope(id, "urn:message:Sagas.Contracts:NoSuchMessage", new JsonObject { ["sagaId"] = Guid.NewGuid().ToString() }, backend.BrokerUri!);

        await _broker.PublishAsync(Queue, body, id.ToString());

        var moved = await _broker.WaitForMessageAsync(SkippedQueue, id.ToString(), MoveTimeout);
        output.WriteLine(moved.ToString());
        // MassTransit 8: no consumer for the type, so the message is dead-lettered to _skipped (not a fault, no MT-Fault-* headers).
        Assert.Equal("dead-letter", moved.Header("MT-Reason"));
        Assert.Equal("", moved.Header("MT-Fault-ExceptionType"));
        Assert.Equal(body, moved.Body);
        await AssertCoordinatorStillWorksAsync();
    }

    [Fact]
    public async Task StepSucceededForUnknownSaga_OnCoordinatorQueue_MovedToErrorQueueNamingTheSagaWithoutRetries()
    {
        var id = Guid.NewGuid();
        var sagaId = Guid.NewGuid();
        var reply = new JsonObject { ["sagaId"] = sagaId.ToString(), ["step"] = "reserve-stock", ["attempt"] = 1, ["output"] = new JsonObject() };
        var started = DateTime.UtcNow;

        await _broker.PublishAsync(Queue, RawBroker.Envelope(id, "urn:message:Sagas.Contracts:StepSucceeded", reply, backend.BrokerUri!, sagaId), id.ToString());

        var moved = await _broker.WaitForMessageAsync(ErrorQueue, id.ToString(), MoveTimeout);
        output.WriteLine(moved.ToString());
        Assert.Equal("fault", moved.Header("MT-Reason"));
        Assert.EndsWith("UnknownSagaException", moved.Header("MT-Fault-ExceptionType"), StringComparison.Ordinal);
        Assert.Contains(sagaId.ToString(), moved.Header("MT-Fault-Message"), StringComparison.Ordinal);
        // UnknownSagaException is excluded from the in-place retry (8 exponential tries would take ~20 s).
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), $"moved after {(DateTime.UtcNow - started).TotalSeconds:0.0} s: it was retried");
        Assert.Equal(HttpStatusCode.NotFound, (await backend.Client.GetAsync(new Uri($"/api/sagas/{sagaId}", UriKind.Relative))).StatusCode);
        await AssertCoordinatorStillWorksAsync();
    }

    [Fact]
    public async Task OversizedStartSaga_2MbOfData_RejectedWithReasonNoSagaAndCoordinatorKeepsWorking()
    {
        var id = Guid.NewGuid();
        var sagaId = Guid.NewGuid();
        var rejections = await _broker.SubscribeAsync("Sagas.Contracts:SagaStartRejected");
        var start = new JsonObject
        {
            ["sagaId"] = sagaId.ToString(),
            ["definition"] = TestDefinitions.Shipped,
            ["data"] = new JsonObject { ["orderId"] = "o-huge", ["padding"] = new string('x', 2 * 1024 * 1024) },
        };

        await _broker.PublishAsync(Queue, RawBroker.Envelope(id, "urn:message:Sagas.Contracts:StartSaga", start, backend.BrokerUri!), id.ToString());

        var rejected = await _broker.WaitForBodyContainingAsync(rejections, sagaId.ToString(), MoveTimeout);
        output.WriteLine(rejected.Body);
        Assert.Contains("the limit is", rejected.Body, StringComparison.Ordinal);
        Assert.Contains("data", rejected.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await backend.Client.GetAsync(new Uri($"/api/sagas/{sagaId}", UriKind.Relative))).StatusCode);
        await AssertCoordinatorStillWorksAsync();
    }

    [Fact]
    public async Task OversizedGarbage_2MbNotJson_MovedToErrorQueueAndCoordinatorKeepsWorking()
    {
        var id = Guid.NewGuid().ToString();
        var body = Encoding.UTF8.GetBytes(new string('#', 2 * 1024 * 1024));

        await _broker.PublishAsync(Queue, body, id);

        var moved = await _broker.WaitForMessageAsync(ErrorQueue, id, MoveTimeout);
        output.WriteLine(moved.ToString());
        Assert.Equal("fault", moved.Header("MT-Reason"));
        Assert.Contains("Json", moved.Header("MT-Fault-ExceptionType"), StringComparison.Ordinal);
        Assert.Contains("'#' is an invalid start of a value", moved.Header("MT-Fault-Message"), StringComparison.Ordinal);
        Assert.Equal(body.Length, moved.BodyBytes);
        await AssertCoordinatorStillWorksAsync();
    }

    [Fact]
    public async Task RawAmqpStartSaga_HandWrittenEnvelopeAsDocumented_SagaCompletesOnce()
    {
        var order = await backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        var sagaId = Guid.NewGuid();
        var start = new JsonObject { ["sagaId"] = sagaId.ToString(), ["definition"] = TestDefinitions.Shipped, ["data"] = order.ToJson() };
        var body = RawBroker.Envelope(id, "urn:message:Sagas.Contracts:StartSaga", start, backend.BrokerUri!, sagaId);

        // The same message twice (a client retrying its publish): the inbox and the saga id keep it to one saga.
        await _broker.PublishAsync(Queue, body, id.ToString());
        await _broker.PublishAsync(Queue, body, id.ToString());
        await backend.WaitForStateAsync(sagaId, "Completed");
        await Task.Delay(500);

        Assert.Equal(98, await backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(975m, await backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Single(await backend.GetHistoryAsync(sagaId), h => h.Type == "SagaStarted");
    }

    /// <summary>Still ready, and a normal saga started now runs to the end with the right ledger.</summary>
    private async Task AssertCoordinatorStillWorksAsync()
    {
        var ready = await backend.Client.GetAsync(new Uri("/health/ready", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var order = await backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var sagaId = await backend.StartAsync(TestDefinitions.Shipped, order);
        await backend.WaitForStateAsync(sagaId, "Completed");
        Assert.Equal(98, await backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(975m, await backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await backend.Ledger.GetShipmentsAsync(order.OrderId));
    }
}
