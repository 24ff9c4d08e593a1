using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// The compensation audit (<c>GET /api/compensations</c>) over rows the coordinator writes while it compensates:
/// nothing here is seeded. A saga to Antarctica fails at book-shipment, so charge-payment and reserve-stock are
/// compensated and must appear with outcome "succeeded".
/// </summary>
public abstract class CompensationAuditScenarios<TBackend>(TBackend backend)
    where TBackend : SagaBackend
{
    [Fact]
    public async Task Audit_CompensatedSaga_TwoSucceededCompensationsListed()
    {
        var id = await CompensatedSagaAsync(backend.Client);

        // The rows come from the coordinator's own bookkeeping (SagaProcessor), not from this test.
        var rows = await ForSagaAsync(id, "/api/compensations?definition=order-fulfilment&outcome=succeeded&limit=500");

        Assert.Equal(["charge-payment", "reserve-stock"], rows.Select(r => r.GetProperty("step").GetString()).Order(StringComparer.Ordinal));
        Assert.All(rows, r =>
        {
            Assert.Equal("succeeded", r.GetProperty("outcome").GetString());
            Assert.Equal("order-fulfilment", r.GetProperty("definition").GetString());
            Assert.Equal("StepFailure", r.GetProperty("trigger").GetString());
            Assert.Equal(1, r.GetProperty("attempts").GetInt32());
            Assert.Equal(JsonValueKind.String, r.GetProperty("completedAt").ValueKind);
        });
    }

    [Fact]
    public async Task Audit_FilterByStepAndOutcome_OnlyMatchingRows()
    {
        var id = await CompensatedSagaAsync(backend.Client);

        var charge = await ForSagaAsync(id, "/api/compensations?step=charge-payment&limit=500");
        var failed = await ForSagaAsync(id, "/api/compensations?outcome=failed&limit=500");

        Assert.Equal("charge-payment", Assert.Single(charge).GetProperty("step").GetString());
        Assert.Empty(failed);
    }

    [Fact]
    public async Task Audit_PagesOfOne_EveryRowOnceNewestChangeFirst()
    {
        var id = await CompensatedSagaAsync(backend.Client);
        var all = (await GetAsync(backend.Client, "/api/compensations?limit=500")).GetProperty("items").EnumerateArray().ToList();

        var paged = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await GetAsync(backend.Client, "/api/compensations?limit=1" + (cursor is null ? "" : $"&cursor={cursor}"));
            paged.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null && paged.Count <= all.Count);

        Assert.Equal(all.Select(Key), paged.Select(Key));
        Assert.Equal(2, paged.Count(r => r.GetProperty("sagaId").GetGuid() == id));
        var times = paged.Select(r => r.GetProperty("updatedAt").GetDateTimeOffset()).ToList();
        Assert.Equal(times.OrderByDescending(t => t), times);
    }

    [Fact]
    public async Task Audit_TenantKey_SeesOnlyItsTenantsCompensations()
    {
        using var acme = backend.CreateClient(TestKeys.TenantOperator);
        var mine = await CompensatedSagaAsync(acme);
        var theirs = await CompensatedSagaAsync(backend.Client, tenant: "globex");

        var seen = (await GetAsync(acme, "/api/compensations?limit=500")).GetProperty("items").EnumerateArray().ToList();

        Assert.Contains(seen, r => r.GetProperty("sagaId").GetGuid() == mine);
        Assert.DoesNotContain(seen, r => r.GetProperty("sagaId").GetGuid() == theirs);
        Assert.All(seen, r => Assert.Equal(TestKeys.Tenant, r.GetProperty("tenant").GetString()));
    }

    [Theory]
    [InlineData("outcome=done", "outcome")]
    [InlineData("limit=-1", "limit")]
    [InlineData("from=soon", "from")]
    [InlineData("cursor=%%%", "cursor")]
    public async Task Audit_BadParameter_400ProblemNamingIt(string query, string parameter)
    {
        using var response = await backend.Client.GetAsync(new Uri($"/api/compensations?{query}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.ToString());
    }

    private static string Key(JsonElement row) => $"{row.GetProperty("sagaId").GetGuid()}/{row.GetProperty("step").GetString()}";

    private async Task<Guid> CompensatedSagaAsync(HttpClient client, string? tenant = null)
    {
        var order = await backend.NewOrderAsync(country: "AQ");
        using var response = await client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition = TestDefinitions.Shipped, tenant, data = order.ToJson() });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sagaId").GetGuid();
        await backend.WaitForStateAsync(id, "Compensated");
        return id;
    }

    private async Task<List<JsonElement>> ForSagaAsync(Guid id, string path) =>
        (await GetAsync(backend.Client, path)).GetProperty("items").EnumerateArray().Where(r => r.GetProperty("sagaId").GetGuid() == id).ToList();

    private static async Task<JsonElement> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}

public sealed class EmbeddedCompensationAuditScenarios(EmbeddedBackend backend) : CompensationAuditScenarios<EmbeddedBackend>(backend), IClassFixture<EmbeddedBackend>;

public sealed class DistributedCompensationAuditScenarios(DistributedBackend backend) : CompensationAuditScenarios<DistributedBackend>(backend), IClassFixture<DistributedBackend>;
