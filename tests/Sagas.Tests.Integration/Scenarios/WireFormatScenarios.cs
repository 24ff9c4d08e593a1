using System.Text.Json;
using System.Text.Json.Nodes;
using Sagas.Contracts;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// What crosses the broker (real RabbitMQ): the coordinator and the participants write their envelopes as compact
/// JSON, one line with no indentation, and still read an indented envelope, as a client of an earlier version or
/// another language may write it.
/// </summary>
public sealed class WireFormatScenarios(DistributedBackend backend, ITestOutputHelper output) : IClassFixture<DistributedBackend>
{
    [Fact]
    public async Task Envelopes_SagasCompleteAndCompensate_EveryMessageWrittenWithoutIndentation()
    {
        await using var trace = await BrokerTrace.StartAsync(backend.BrokerUri!);
        var shipped = (Id: Guid.NewGuid(), Order: await backend.NewOrderAsync(country: "NL", stock: 10, balance: 100m, amount: 25m, quantity: 2));
        var refused = (Id: Guid.NewGuid(), Order: await backend.NewOrderAsync(country: "AQ", stock: 10, balance: 100m, amount: 25m, quantity: 2));

        foreach (var (id, order) in new[] { shipped, refused })
        {
            await backend.Bus.Publish(new StartSaga(id, TestDefinitions.Shipped, JsonSerializer.SerializeToElement(order.ToJson())));
        }

        await backend.WaitForStateAsync(shipped.Id, "Completed", TimeSpan.FromSeconds(60));
        await backend.WaitForStateAsync(refused.Id, "Compensated", TimeSpan.FromSeconds(60));
        Assert.Equal(8, await backend.Ledger.GetStockAsync(shipped.Order.Sku));
        Assert.Equal(75m, await backend.Ledger.GetBalanceAsync(shipped.Order.CustomerId));
        Assert.Equal(10, await backend.Ledger.GetStockAsync(refused.Order.Sku));
        Assert.Equal(100m, await backend.Ledger.GetBalanceAsync(refused.Order.CustomerId));

        var envelopes = (await trace.DrainAsync())
            .Where(m => m.RoutingKey.StartsWith("publish.", StringComparison.Ordinal) && m.Text.Contains("\"messageType\"", StringComparison.Ordinal))
            .ToList();
        output.WriteLine($"{envelopes.Count} envelopes published");
        foreach (var type in new[] { "StartSaga", "SagaCompleted", "SagaCompensated" })
        {
            Assert.Contains(envelopes, m => m.Text.Contains($"urn:message:Sagas.Contracts:{type}\"", StringComparison.Ordinal));
        }

        // The commands and the replies, one by one or batched: both ends' sends are in the trace.
        Assert.Contains(envelopes, m => m.Text.Contains("urn:message:Sagas.Contracts:ExecuteStep\"", StringComparison.Ordinal) || m.Text.Contains("urn:message:Sagas.Contracts:StepCommandBatch\"", StringComparison.Ordinal));
        Assert.Contains(envelopes, m => m.Text.Contains("urn:message:Sagas.Contracts:StepSucceeded\"", StringComparison.Ordinal) || m.Text.Contains("urn:message:Sagas.Contracts:StepReplyBatch\"", StringComparison.Ordinal));
        foreach (var envelope in envelopes)
        {
            // JSON strings cannot hold a raw line break, so one in the body is formatting.
            Assert.False(envelope.Text.Contains('\n', StringComparison.Ordinal), $"{envelope.RoutingKey} is indented: {envelope.Text[..Math.Min(300, envelope.Text.Length)]}");
            Assert.NotNull(JsonNode.Parse(envelope.Text)?["message"]);
        }
    }

    [Fact]
    public async Task IndentedStart_AsAnEarlierVersionWroteIt_SagaCompletesOnce()
    {
        var order = await backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();
        var sagaId = Guid.NewGuid();
        var start = new JsonObject
        {
            ["sagaId"] = sagaId.ToString(),
            ["definition"] = TestDefinitions.Shipped,
            ["data"] = order.ToJson(),
            ["version"] = null,
            ["businessKey"] = null,
            ["tenant"] = null,
            ["deadline"] = null,
        };
        var compact = RawBroker.Envelope(id, "urn:message:Sagas.Contracts:StartSaga", start, backend.BrokerUri!, sagaId);
        var indented = JsonNode.Parse(compact)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Assert.Contains("\n  \"message\": {", indented, StringComparison.Ordinal);

        await using var broker = await RawBroker.ConnectAsync(backend.BrokerUri!);
        await broker.PublishAsync(Endpoints.Coordinator, indented, id.ToString());
        await backend.WaitForStateAsync(sagaId, "Completed", TimeSpan.FromSeconds(60));

        Assert.Equal(98, await backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(975m, await backend.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await backend.Ledger.GetShipmentsAsync(order.OrderId));
    }
}
