using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// The claim check with <c>Store=S3</c>, end to end over RabbitMQ and PostgreSQL against an S3-compatible server: 1 MB
/// sagas complete and compensate, every broker message stays under the threshold, the participants and the API see
/// the whole data, and the claims are objects in the bucket, not rows in the coordinator's database.
/// </summary>
public sealed class S3ClaimCheckScenarios(ITestOutputHelper output)
{
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task OneMegabyteSagas_CompleteAndCompensate_ClaimsAreObjectsInTheBucket()
    {
        Skip.IfNot(S3ClaimBackend.Available, S3ClaimBackend.Variable + " not set (scripts/services.sh starts s3rver)");
        var backend = new S3ClaimBackend();
        await backend.InitializeAsync();
        try
        {
            await using var trace = await BrokerTrace.StartAsync(backend.BrokerUri!);
            var attachment = new string('s', 1024 * 1024);
            var happy = await backend.NewOrderAsync(stock: 10, balance: 100m, amount: 25m, quantity: 1);
            var refused = await backend.NewOrderAsync(country: "AQ", stock: 10, balance: 100m, amount: 25m, quantity: 1);
            var (happyId, refusedId) = (Guid.NewGuid(), Guid.NewGuid());
            var sizes = new ConcurrentBag<int>();
            backend.Faults.Observe(f => f.SagaId == happyId || f.SagaId == refusedId, f => sizes.Add(f.Data?.GetRawText().Length ?? 0));

            foreach (var (id, order) in new[] { (happyId, happy), (refusedId, refused) })
            {
                var data = order.ToJson();
                data["attachment"] = attachment;
                var response = await backend.Client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition = TestDefinitions.Shipped, sagaId = id, data });
                Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
            }

            await backend.WaitForStateAsync(happyId, "Completed", Slow);
            await backend.WaitForStateAsync(refusedId, "Compensated", Slow);

            Assert.Equal(9, await backend.Ledger.GetStockAsync(happy.Sku));
            Assert.Equal(75m, await backend.Ledger.GetBalanceAsync(happy.CustomerId));
            Assert.Single(await backend.Ledger.GetShipmentsAsync(happy.OrderId));
            Assert.Equal(10, await backend.Ledger.GetStockAsync(refused.Sku));
            Assert.Equal(100m, await backend.Ledger.GetBalanceAsync(refused.CustomerId));

            // Every action and compensation the participants ran saw the whole data, read back from the bucket.
            Assert.True(sizes.Count >= 5, $"{sizes.Count} participant calls observed");
            Assert.All(sizes, size => Assert.True(size > 1024 * 1024, $"a participant saw {size} characters of data"));

            var messages = await trace.DrainAsync();
            output.WriteLine($"{messages.Count} traced broker messages, largest {messages.Max(m => m.Body.Length)} bytes");
            Assert.Contains(messages, m => m.Text.Contains("\"$claim\"", StringComparison.Ordinal));
            Assert.All(messages, m => Assert.True(m.Body.Length < S3ClaimBackend.ClaimThresholdBytes, $"{m.RoutingKey}: {m.Body.Length} bytes"));

            var objects = await backend.ClaimObjectsAsync();
            output.WriteLine($"{objects.Count} claim objects under {backend.Prefix}");
            Assert.NotEmpty(objects);
            Assert.All(objects, o => Assert.True(o.Size > 1024 * 1024, $"{o.Key}: {o.Size} bytes"));
            Assert.Equal(0L, await CountClaimRowsAsync(backend));

            using var document = JsonDocument.Parse(await backend.Client.GetStringAsync(new Uri($"/api/sagas/{happyId}", UriKind.Relative)));
            Assert.Equal(attachment, document.RootElement.GetProperty("data").GetProperty("attachment").GetString());
        }
        finally
        {
            await backend.DisposeAsync();
        }
    }

    private static async Task<long> CountClaimRowsAsync(S3ClaimBackend backend)
    {
        await using var connection = new NpgsqlConnection(backend.CoordinatorConnectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM payload_claims", connection);
        return (long)(await count.ExecuteScalarAsync())!;
    }
}
