using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Sagas.Contracts;
using Sagas.Coordinator.Telemetry;
using Sagas.Participants.Telemetry;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Commands for one participant written by one group commit travel in one broker message, and the participant's
/// replies ready together travel back in one: over real RabbitMQ and PostgreSQL, sagas started together still
/// complete or compensate each with its own effects exactly once, in fewer broker messages than one per command and
/// reply, and each saga's trace still holds every command sent, handled and answered.
/// </summary>
public sealed class BatchingScenarios(DistributedBackend backend, ITestOutputHelper output) : IClassFixture<DistributedBackend>
{
    [Fact]
    public async Task Batching_SagasStartedTogether_ShareBrokerMessagesAndEachEndsWithItsOwnEffectsOnce()
    {
        const int completing = 30;
        const int compensating = 10;
        await using var trace = await BrokerTrace.StartAsync(backend.BrokerUri!);
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is SagasDiagnostics.Name or ParticipantDiagnostics.Name or SagasDiagnostics.MassTransit,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var orders = new List<(Guid Id, Order Order)>();
        for (var i = 0; i < completing + compensating; i++)
        {
            orders.Add((Guid.NewGuid(), await backend.NewOrderAsync(country: i < completing ? "NL" : "AQ", stock: 10, balance: 100m, amount: 25m, quantity: 2)));
        }

        // All at once, over the bus: the coordinator takes the starts together and writes their first commands in shared commits.
        await Task.WhenAll(orders.Select(o => backend.Bus.Publish(
            new StartSaga(o.Id, TestDefinitions.Shipped, JsonSerializer.SerializeToElement(o.Order.ToJson())))));

        for (var i = 0; i < orders.Count; i++)
        {
            var (id, order) = orders[i];
            var done = i < completing;
            await backend.WaitForStateAsync(id, done ? "Completed" : "Compensated", TimeSpan.FromSeconds(60));
            Assert.Equal(done ? 8 : 10, await backend.Ledger.GetStockAsync(order.Sku));
            Assert.Equal(done ? 75m : 100m, await backend.Ledger.GetBalanceAsync(order.CustomerId));
            Assert.Equal(done ? 1 : 0, (await backend.Ledger.GetShipmentsAsync(order.OrderId)).Count);
        }

        // Batched or not, every command sent for a saga was handled and answered under the saga's own trace.
        foreach (var (id, _) in orders)
        {
            var traceId = SagasDiagnostics.SagaContext(id).TraceId;
            var mine = spans.Where(s => s.TraceId == traceId).ToList();
            var sent = mine.Count(s => s.Source.Name == SagasDiagnostics.Name && s.DisplayName is "saga step send" or "saga compensation send");
            Assert.True(sent >= 3, $"saga {id}: {sent} sends in its trace");
            Assert.Equal(sent, mine.Count(s => s.Source.Name == ParticipantDiagnostics.Name));
            Assert.Equal(sent, mine.Count(s => s.Source.Name == SagasDiagnostics.Name && s.DisplayName.StartsWith("saga reply ", StringComparison.Ordinal)));
        }

        // Alone, each completing saga is 8 broker messages (start, 3 commands, 3 replies, the event) and each compensating
        // one 12 (2 compensations and their replies more).
        var published = (await trace.DrainAsync()).Where(m => m.RoutingKey.StartsWith("publish.", StringComparison.Ordinal)).ToList();
        var alone = completing * 8 + compensating * 12;
        var commandBatches = published.Count(m => m.Text.Contains("urn:message:Sagas.Contracts:StepCommandBatch", StringComparison.Ordinal));
        var replyBatches = published.Count(m => m.Text.Contains("urn:message:Sagas.Contracts:StepReplyBatch", StringComparison.Ordinal));
        output.WriteLine($"{published.Count} messages published for {orders.Count} sagas ({alone} one by one); {commandBatches} command batches, {replyBatches} reply batches");
        Assert.True(commandBatches > 0, "no command batch was sent");
        Assert.True(replyBatches > 0, "no reply batch was sent");
        Assert.True(published.Count < alone, $"{published.Count} broker messages, not fewer than {alone}");
    }
}
