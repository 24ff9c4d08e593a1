using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Contracts;
using Sagas.Participants.Payloads;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Issue 6, items 3 and 4 over real RabbitMQ and PostgreSQL: encrypted payloads never show their plaintext to the
/// broker or the coordinator's database, while participants and allowed API callers see it; a 1 MB saga runs with
/// every message under the claim-check threshold.
/// </summary>
public sealed class PayloadProtectionScenarios(ProtectedPayloadBackend backend, ITestOutputHelper output) : IClassFixture<ProtectedPayloadBackend>
{
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Encryption_SagasCompleteAndCompensate_MarkerNowhereInBrokerOrDatabaseButParticipantsAndOperatorSeeIt()
    {
        var marker = NewMarker();
        var seen = new ConcurrentBag<string>();
        await using var trace = await BrokerTrace.StartAsync(backend.BrokerUri!);
        var happy = await backend.NewOrderAsync(stock: 10, balance: 100m, amount: 25m, quantity: 2);
        var refused = await backend.NewOrderAsync(country: "AQ", stock: 10, balance: 100m, amount: 25m, quantity: 2);
        var waiting = await backend.NewOrderAsync(stock: 10, balance: 100m, amount: 25m, quantity: 2);
        var happyId = Guid.NewGuid();
        var refusedId = Guid.NewGuid();
        var waitingId = Guid.NewGuid();
        backend.Faults.Observe(f => f.SagaId == happyId || f.SagaId == refusedId || f.SagaId == waitingId, f => seen.Add(f.Data?.GetRawText() ?? ""));

        await StartAsync(happyId, TestDefinitions.Shipped, WithCard(happy.ToJson(), marker));
        await StartAsync(refusedId, TestDefinitions.Shipped, WithCard(refused.ToJson(), marker));
        await StartAsync(waitingId, TestDefinitions.Parallel, WithCard(waiting.ToJson(), marker));

        // A service signalling over the bus encrypts the payload itself with the same codec.
        var codec = backend.Services.GetRequiredService<PayloadCodec>();
        var payload = await codec.EncodeAsync(waitingId, JsonSerializer.SerializeToElement(new { packedBy = marker }), default);
        await backend.Bus.Publish(new SignalSaga(waitingId, "packed", payload, "warehouse-service", "scanned"));
        await backend.WaitForStateAsync(happyId, "Completed", Slow);
        await backend.WaitForStateAsync(refusedId, "Compensated", Slow);
        await backend.WaitForStateAsync(waitingId, "Completed", Slow);

        // The participants got plaintext: they acted on it, and it carried the marker.
        Assert.Equal(8, await backend.Ledger.GetStockAsync(happy.Sku));
        Assert.Equal(75m, await backend.Ledger.GetBalanceAsync(happy.CustomerId));
        Assert.Single(await backend.Ledger.GetShipmentsAsync(happy.OrderId));
        Assert.Equal(10, await backend.Ledger.GetStockAsync(refused.Sku));
        Assert.Equal(100m, await backend.Ledger.GetBalanceAsync(refused.CustomerId));
        Assert.Single(await backend.Ledger.GetShipmentsAsync(waiting.OrderId));
        Assert.True(seen.Count >= 9, $"participants saw {seen.Count} step messages");
        Assert.All(seen, data => Assert.Contains(marker, data, StringComparison.Ordinal));

        // Nothing readable reached the broker ...
        var messages = await trace.DrainAsync();
        output.WriteLine($"{messages.Count} traced broker messages");
        Assert.Contains(messages, m => m.Text.Contains("ExecuteStep", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Text.Contains("CompensateStep", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Text.Contains("StepSucceeded", StringComparison.Ordinal));
        Assert.All(messages, m => Assert.DoesNotContain(marker, m.Text, StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Text.Contains("\"$enc\"", StringComparison.Ordinal));

        // ... or the coordinator's database.
        var dump = await backend.DumpCoordinatorDatabaseAsync();
        Assert.Contains(happyId.ToString(), dump, StringComparison.Ordinal);
        Assert.DoesNotContain(marker, dump, StringComparison.Ordinal);

        // An allowed role reads the data; a lower one gets a placeholder, not the data.
        Assert.Equal(marker, (await GetDataAsync(happyId, TestKeys.Operator)).GetProperty("card").GetString());
        Assert.Equal(marker, (await GetDataAsync(waitingId, TestKeys.Operator)).GetProperty("packedBy").GetString());
        var forReader = await GetDataAsync(happyId, TestKeys.Reader);
        Assert.True(forReader.TryGetProperty("$redacted", out _), forReader.GetRawText());
        Assert.DoesNotContain(marker, forReader.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClaimCheck_OneMegabyteSagaData_CompletesWithEveryBrokerMessageUnderTheThreshold()
    {
        var marker = NewMarker();
        await using var trace = await BrokerTrace.StartAsync(backend.BrokerUri!);
        var order = await backend.NewOrderAsync(stock: 10, balance: 100m, amount: 25m, quantity: 1);
        var data = WithCard(order.ToJson(), marker);
        data["attachment"] = new string('a', 1024 * 1024);
        var id = Guid.NewGuid();
        var sizes = new ConcurrentBag<int>();
        backend.Faults.Observe(f => f.SagaId == id, f => sizes.Add(f.Data?.GetRawText().Length ?? 0));

        await StartAsync(id, TestDefinitions.Shipped, data);
        await backend.WaitForStateAsync(id, "Completed", Slow);

        Assert.Equal(9, await backend.Ledger.GetStockAsync(order.Sku));
        Assert.Single(await backend.Ledger.GetShipmentsAsync(order.OrderId));
        Assert.Equal(3, sizes.Count);
        Assert.All(sizes, size => Assert.True(size > 1024 * 1024, $"a participant saw {size} characters of data"));
        var messages = await trace.DrainAsync();
        var largest = messages.Max(m => m.Body.Length);
        output.WriteLine($"{messages.Count} traced broker messages, largest {largest} bytes");
        Assert.Contains(messages, m => m.Text.Contains("\"$claim\"", StringComparison.Ordinal));
        Assert.All(messages, m => Assert.True(m.Body.Length < ProtectedPayloadBackend.ClaimThresholdBytes, $"{m.RoutingKey}: {m.Body.Length} bytes"));
        Assert.All(messages, m => Assert.DoesNotContain(marker, m.Text, StringComparison.Ordinal));
        Assert.Equal(new string('a', 1024 * 1024), (await GetDataAsync(id, TestKeys.Operator)).GetProperty("attachment").GetString());
    }

    [Fact]
    public async Task Rotation_StartEncryptedWithTheOldKeyOverTheBus_DecryptsAndCompletes()
    {
        var order = await backend.NewOrderAsync(stock: 10, balance: 100m, amount: 25m, quantity: 1);
        var old = PayloadCipher.FromOptions(new EncryptionOptions { Keys = [new PayloadKey { Id = ProtectedPayloadBackend.OldKeyId, Key = backend.OldKey }] })!;
        var id = Guid.NewGuid();
        var data = old.Encrypt(JsonSerializer.SerializeToElement(order.ToJson()));

        await SendStartAsync(new StartSaga(id, TestDefinitions.Shipped, data), Guid.NewGuid());
        await backend.WaitForStateAsync(id, "Completed", Slow);

        Assert.Equal(9, await backend.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(order.Sku, (await GetDataAsync(id, TestKeys.Admin)).GetProperty("sku").GetString());
    }

    [Fact]
    public async Task UnknownKeyId_StartOverTheBus_MovedToErrorQueueNamingTheKeyAndNothingStarted()
    {
        var stranger = PayloadCipher.FromOptions(new EncryptionOptions { Keys = [new PayloadKey { Id = "not-configured", Key = backend.ActiveKey }] })!;
        var id = Guid.NewGuid();
        var messageId = Guid.NewGuid();
        await using var broker = await RawBroker.ConnectAsync(backend.BrokerUri!);

        await SendStartAsync(new StartSaga(id, TestDefinitions.Shipped, stranger.Encrypt(JsonSerializer.SerializeToElement(new { a = 1 }))), messageId);

        var moved = await broker.WaitForMessageAsync(Endpoints.Coordinator + "_error", messageId.ToString(), TimeSpan.FromSeconds(20));
        output.WriteLine(moved.ToString());
        Assert.EndsWith(nameof(PayloadCodecException), moved.Header("MT-Fault-ExceptionType"), StringComparison.Ordinal);
        Assert.Contains("'not-configured'", moved.Header("MT-Fault-Message"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await backend.Client.GetAsync(new Uri($"/api/sagas/{id}", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task MissingClaim_StepCommandAtParticipant_MovedToItsErrorQueueNamingTheClaimAndNothingRuns()
    {
        var order = await backend.NewOrderAsync(stock: 10);
        var sagaId = Guid.NewGuid();
        var messageId = Guid.NewGuid();
        var reference = PayloadClaim.For(sagaId, JsonSerializer.Serialize(order.ToJson())).Reference();
        await using var broker = await RawBroker.ConnectAsync(backend.BrokerUri!);

        var endpoint = await backend.SendEndpointAsync("inventory");
        await endpoint.Send(new ExecuteStep(sagaId, TestDefinitions.Shipped, 1, "reserve-stock", "reserve", 1, reference), context => context.MessageId = messageId);

        var moved = await broker.WaitForMessageAsync("inventory_error", messageId.ToString(), TimeSpan.FromSeconds(20));
        output.WriteLine(moved.ToString());
        Assert.EndsWith(nameof(PayloadCodecException), moved.Header("MT-Fault-ExceptionType"), StringComparison.Ordinal);
        Assert.Contains("is not in the claim store", moved.Header("MT-Fault-Message"), StringComparison.Ordinal);
        Assert.Equal(10, await backend.Ledger.GetStockAsync(order.Sku));
    }

    [Fact]
    public async Task StartOverHttp_EncryptedEnvelopeOrClaimReference_RejectedWithProblem()
    {
        var codec = backend.Services.GetRequiredService<PayloadCodec>();
        var envelope = codec.Cipher!.Encrypt(JsonSerializer.SerializeToElement(new { a = 1 }));
        var claim = PayloadClaim.For(Guid.NewGuid(), "{}").Reference();

        foreach (var data in new[] { envelope, claim })
        {
            var response = await backend.Client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition = TestDefinitions.Shipped, data });

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("plain", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    private static string NewMarker() => $"4111-1111-{Random.Shared.Next(1000, 9999)}-{Random.Shared.Next(1000, 9999)}";

    private static JsonObject WithCard(JsonObject data, string marker)
    {
        data["card"] = marker;
        return data;
    }

    private async Task StartAsync(Guid id, string definition, JsonObject data)
    {
        var response = await backend.Client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition, sagaId = id, data });
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
    }

    private async Task SendStartAsync(StartSaga start, Guid messageId)
    {
        var endpoint = await backend.SendEndpointAsync(Endpoints.Coordinator);
        await endpoint.Send(start, context => context.MessageId = messageId);
    }

    private async Task<JsonElement> GetDataAsync(Guid id, string apiKey)
    {
        using var client = backend.CreateClient(apiKey);
        using var document = JsonDocument.Parse(await client.GetStringAsync(new Uri($"/api/sagas/{id}", UriKind.Relative)));
        return document.RootElement.GetProperty("data").Clone();
    }
}
