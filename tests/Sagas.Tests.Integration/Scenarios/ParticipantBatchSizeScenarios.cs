using System.Text.Json;
using System.Text.RegularExpressions;
using Sagas.Contracts;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// A participant that does not read command batches yet gets its own batch size of 1
/// (<c>Sagas:ParticipantCommandBatchSize:payments = 1</c>): over real RabbitMQ and PostgreSQL, its queue receives only
/// single commands while the other participants' still get batches, and every saga ends with its effects. Its replies
/// to those single commands, ready close together, still share broker messages (<c>ReplyCoalescer</c>).
/// </summary>
public sealed class ParticipantBatchSizeScenarios(PaymentsUnbatchedBackend backend, ITestOutputHelper output) : IClassFixture<PaymentsUnbatchedBackend>
{
    [Fact]
    public async Task Batching_OneParticipantAtSizeOne_ItsQueueGetsOnlySingleCommandsOthersStillBatchedAndItsRepliesShareMessages()
    {
        const int sagas = 40;
        await using var trace = await BrokerTrace.StartAsync(backend.BrokerUri!);
        var orders = new List<(Guid Id, Order Order)>();
        for (var i = 0; i < sagas; i++)
        {
            orders.Add((Guid.NewGuid(), await backend.NewOrderAsync(country: "NL", stock: 10, balance: 100m, amount: 25m, quantity: 2)));
        }

        await Task.WhenAll(orders.Select(o => backend.Bus.Publish(
            new StartSaga(o.Id, TestDefinitions.Shipped, JsonSerializer.SerializeToElement(o.Order.ToJson())))));

        foreach (var (id, order) in orders)
        {
            await backend.WaitForStateAsync(id, "Completed", TimeSpan.FromSeconds(60));
            Assert.Equal(8, await backend.Ledger.GetStockAsync(order.Sku));
            Assert.Equal(75m, await backend.Ledger.GetBalanceAsync(order.CustomerId));
            Assert.Single(await backend.Ledger.GetShipmentsAsync(order.OrderId));
        }

        // What reached each participant's exchange (a send to a queue goes through the exchange of the same name).
        var published = (await trace.DrainAsync()).Where(m => m.RoutingKey.StartsWith("publish.", StringComparison.Ordinal)).ToList();
        bool IsBatch(TracedMessage m) => m.Text.Contains("urn:message:Sagas.Contracts:StepCommandBatch", StringComparison.Ordinal);
        bool IsSingle(TracedMessage m) => m.Text.Contains("urn:message:Sagas.Contracts:ExecuteStep", StringComparison.Ordinal) && !IsBatch(m);
        List<TracedMessage> To(string participant) => published.Where(m => m.RoutingKey == "publish." + participant).ToList();
        var payments = To("payments");
        var others = To("inventory").Concat(To("shipping")).ToList();
        output.WriteLine($"payments: {payments.Count(IsSingle)} single, {payments.Count(IsBatch)} batches; inventory and shipping: {others.Count(IsSingle)} single, {others.Count(IsBatch)} batches");
        Assert.Equal(0, payments.Count(IsBatch));
        Assert.True(payments.Count(IsSingle) >= sagas, $"{payments.Count(IsSingle)} single commands reached payments for {sagas} sagas");
        Assert.True(others.Any(IsBatch), "inventory and shipping got no command batch");

        // Replies to payments' single commands, in one message: they were ready while another reply was being sent.
        var toCoordinator = To(Endpoints.Coordinator);
        var shared = toCoordinator
            .Where(m => m.Text.Contains("urn:message:Sagas.Contracts:StepReplyBatch", StringComparison.Ordinal))
            .Select(m => Regex.Count(m.Text, "\"charge-payment\""))
            .Where(n => n >= 2)
            .ToList();
        output.WriteLine($"to the coordinator: {toCoordinator.Count} messages; reply batches answering several single payments commands: {shared.Count} ({shared.Sum()} replies)");
        Assert.NotEmpty(shared);
    }
}
