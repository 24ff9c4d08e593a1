using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Saga search and counts, on each database. Rows are seeded straight into the store (terminal states, no
/// timers, so the coordinator leaves them alone) with a tenant of their own, so a test sees exactly its rows
/// and can force equal creation times to prove the id tie-break.
/// </summary>
public abstract class SearchScenarios<TBackend>(TBackend backend)
    where TBackend : SagaBackend
{
    private static readonly DateTimeOffset Base = new(2001, 2, 3, 4, 5, 6, TimeSpan.Zero);

    [Fact]
    public async Task Search_PagesOfThree_EveryRowOnceNewestFirstTiesByIdDescending()
    {
        var tenant = NewTenant();
        // Three rows share one creation time: only the id orders them.
        var seeded = await SeedAsync(tenant, [0, 1, 1, 1, 2, 3, 4, 5]);
        var expected = seeded.OrderByDescending(s => s.CreatedAt).ThenByDescending(s => s.Id.ToString(), StringComparer.Ordinal).Select(s => s.Id).ToList();

        var seen = new List<Guid>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await GetAsync($"/api/sagas?tenant={tenant}&limit=3" + (cursor is null ? "" : $"&cursor={cursor}"));
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("sagaId").GetGuid()));
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal(expected, seen);
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task Search_RowsAddedBetweenPages_NextPageNeitherRepeatsNorSkips()
    {
        var tenant = NewTenant();
        var seeded = await SeedAsync(tenant, [0, 1, 2, 3]);
        var first = await GetAsync($"/api/sagas?tenant={tenant}&limit=2");

        await SeedAsync(tenant, [10, 11]);
        var second = await GetAsync($"/api/sagas?tenant={tenant}&limit=2&cursor={first.GetProperty("nextCursor").GetString()}");

        Assert.Equal([seeded[3].Id, seeded[2].Id], Ids(first));
        Assert.Equal([seeded[1].Id, seeded[0].Id], Ids(second));
    }

    [Fact]
    public async Task Search_Filters_StateDefinitionBusinessKeyAndTimeRange()
    {
        var tenant = NewTenant();
        var seeded = await SeedAsync(tenant, [0, 1, 2, 3, 4, 5, 6, 7]);

        Assert.Equal(seeded.Where(s => s.State is SagaState.Failed or SagaState.Cancelled).Select(s => s.Id).Reverse(),
            Ids(await GetAsync($"/api/sagas?tenant={tenant}&state=failed,Cancelled")));
        Assert.Equal(seeded.Where(s => s.Definition == "search-b").Select(s => s.Id).Reverse(),
            Ids(await GetAsync($"/api/sagas?tenant={tenant}&definition=search-b")));
        Assert.Equal([seeded[5].Id], Ids(await GetAsync($"/api/sagas?tenant={tenant}&businessKey={seeded[5].BusinessKey}")));
        var from = Uri.EscapeDataString(Base.AddMinutes(2).ToString("O"));
        var to = Uri.EscapeDataString(Base.AddMinutes(5).ToString("O"));
        Assert.Equal([seeded[4].Id, seeded[3].Id, seeded[2].Id], Ids(await GetAsync($"/api/sagas?tenant={tenant}&from={from}&to={to}")));
        Assert.Equal([seeded[1].Id, seeded[0].Id], Ids(await GetAsync($"/api/sagas?tenant={tenant}&to=2001-02-03T04:07:06Z")));
    }

    [Fact]
    public async Task Search_ItemShape_SummaryFieldsWithoutData()
    {
        var tenant = NewTenant();
        var seeded = (await SeedAsync(tenant, [0]))[0];

        var item = (await GetAsync($"/api/sagas?tenant={tenant}")).GetProperty("items")[0];

        Assert.Equal(
            ["sagaId", "definition", "version", "state", "businessKey", "tenant", "createdAt", "updatedAt", "completedAt", "reason"],
            item.EnumerateObject().Select(p => p.Name));
        Assert.Equal(seeded.Id, item.GetProperty("sagaId").GetGuid());
        Assert.Equal(seeded.State.ToString(), item.GetProperty("state").GetString());
        Assert.Equal(seeded.CreatedAt, item.GetProperty("createdAt").GetDateTimeOffset());
        Assert.Equal(seeded.Reason, item.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Search_StartedSaga_FoundByBusinessKeyInItsState()
    {
        var order = await backend.NewOrderAsync();
        var businessKey = "bk-" + order.OrderId;
        using var start = await backend.Client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition = TestDefinitions.Shipped, businessKey, data = order.ToJson() });
        var id = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sagaId").GetGuid();
        await backend.WaitForStateAsync(id, "Completed");

        var item = Assert.Single((await GetAsync($"/api/sagas?businessKey={businessKey}&state=Completed")).GetProperty("items").EnumerateArray());

        Assert.Equal(id, item.GetProperty("sagaId").GetGuid());
        Assert.Equal(TestDefinitions.Shipped, item.GetProperty("definition").GetString());
        Assert.True(item.GetProperty("completedAt").ValueKind == JsonValueKind.String);
    }

    [Fact]
    public async Task Counts_PerState_EveryStateListedZeroIncluded()
    {
        var tenant = NewTenant();
        await SeedAsync(tenant, [0, 1, 2, 3, 4, 5, 6, 7]);

        var counts = await GetAsync($"/api/sagas/counts?tenant={tenant}");

        Assert.Equal(8, counts.GetProperty("total").GetInt32());
        var states = counts.GetProperty("states");
        Assert.Equal(Enum.GetNames<SagaState>(), states.EnumerateObject().Select(p => p.Name));
        Assert.Equal(2, states.GetProperty("Completed").GetInt32());
        Assert.Equal(2, states.GetProperty("Failed").GetInt32());
        Assert.Equal(0, states.GetProperty("Running").GetInt32());
    }

    [Theory]
    [InlineData("state=Sleeping", "state")]
    [InlineData("state=3", "state")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=501", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=2026-13-45", "to")]
    [InlineData("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from")]
    [InlineData("cursor=not*a*cursor", "cursor")]
    [InlineData("cursor=AAAA", "cursor")]
    public async Task Search_BadParameter_400ProblemNamingIt(string query, string parameter)
    {
        using var response = await backend.Client.GetAsync(new Uri($"/api/sagas?{query}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.ToString());
    }

    private static string NewTenant() => "search-" + Guid.NewGuid().ToString("N")[..10];

    private static List<Guid> Ids(JsonElement page) => page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("sagaId").GetGuid()).ToList();

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await backend.Client.GetAsync(new Uri(path, UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>One finished saga per offset (minutes after <see cref="Base"/>), cycling through states and two definitions.</summary>
    private async Task<List<SagaInstance>> SeedAsync(string tenant, int[] minutes)
    {
        SagaState[] states = [SagaState.Completed, SagaState.Compensated, SagaState.Failed, SagaState.Cancelled];
        var rows = minutes.Select((m, i) => new SagaInstance
        {
            Id = Guid.NewGuid(),
            Definition = i % 3 == 0 ? "search-b" : "search-a",
            Version = 1,
            State = states[i % states.Length],
            Data = "{}",
            Reason = i % 2 == 0 ? null : $"reason {i}",
            BusinessKey = $"{tenant}-{i}",
            Tenant = tenant,
            CreatedAt = Base.AddMinutes(m),
            UpdatedAt = Base.AddMinutes(m + 1),
            CompletedAt = Base.AddMinutes(m + 1),
        }).ToList();
        await using var db = backend.Services.GetRequiredService<SagasDbFactory>().Create();
        db.Sagas.AddRange(rows);
        await db.SaveChangesAsync();
        return rows;
    }
}

public sealed class EmbeddedSearchScenarios(EmbeddedBackend backend) : SearchScenarios<EmbeddedBackend>(backend), IClassFixture<EmbeddedBackend>;

public sealed class DistributedSearchScenarios(DistributedBackend backend) : SearchScenarios<DistributedBackend>(backend), IClassFixture<DistributedBackend>;
