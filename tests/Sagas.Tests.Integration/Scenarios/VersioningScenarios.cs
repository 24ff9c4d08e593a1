using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Versioning under load: 500 sagas parked mid-flow on v1, v2 registered over HTTP, new starts take v2, and the
/// parked ones finish on v1's steps.
/// </summary>
public abstract class VersioningScenarios<TBackend>(TBackend backend)
    where TBackend : SagaBackend
{
    private const string Name = "versioned-order";
    private const int Parked = 500;
    private const int Fresh = 50;
    private const int Concurrency = 8;

    protected TBackend Backend { get; } = backend;

    /// <summary>v1: reserve, then wait for 'go'; so its sagas park after one step.</summary>
    private static SagaDefinition V1 { get; } = SagaDefinitionBuilder.Create(Name, version: 1)
        .Step("reserve-stock", s => s.On("inventory").Action("reserve").Compensation("release").Timeout(TimeSpan.FromSeconds(20)))
        .Step("wait-go", s => s.WaitFor("go").Timeout(TimeSpan.FromMinutes(10)))
        .Build();

    /// <summary>v2: no wait; reserve, then book the shipment.</summary>
    private static SagaDefinition V2 { get; } = SagaDefinitionBuilder.Create(Name, version: 2)
        .Step("reserve-stock", s => s.On("inventory").Action("reserve").Compensation("release").Timeout(TimeSpan.FromSeconds(20)))
        .Step("book-shipment", s => s.On("shipping").Action("book").Compensation("cancel").Timeout(TimeSpan.FromSeconds(20)))
        .Build();

    [Fact]
    public async Task NewVersion_Registered_WhileFiveHundredSagasParkedOnV1_TheyFinishOnV1NewOnesRunV2()
    {
        var clock = Stopwatch.StartNew();
        var template = await Backend.NewOrderAsync(stock: 10_000, balance: 0m, quantity: 1);
        Assert.Equal(HttpStatusCode.Created, (await RegisterAsync(V1)).StatusCode);

        var v1 = Enumerable.Range(0, Parked).Select(_ => Guid.NewGuid()).ToList();
        await ForEachAsync(v1, id => Backend.StartAsync(Name, template with { OrderId = $"v1-{id:N}" }, id));
        await WaitUntilAsync(async () => (await LoadAsync(v1)).Count(s => s.Steps[1].Status == StepStatus.Waiting) == Parked, TimeSpan.FromSeconds(60));
        Assert.Equal(10_000 - Parked, await Backend.Ledger.GetStockAsync(template.Sku));

        Assert.Equal(HttpStatusCode.Created, (await RegisterAsync(V2)).StatusCode);
        var v2 = Enumerable.Range(0, Fresh).Select(_ => Guid.NewGuid()).ToList();
        await ForEachAsync(v2, id => Backend.StartAsync(Name, template with { OrderId = $"v2-{id:N}" }, id));
        await ForEachAsync(v1, async id =>
        {
            using var response = await Backend.Client.PostAsJsonAsync(new Uri($"/api/sagas/{id}/signals/go", UriKind.Relative), new { reason = "released after v2 went live" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });
        await WaitUntilAsync(async () => (await LoadAsync([.. v1, .. v2])).All(s => s.State == SagaState.Completed), TimeSpan.FromSeconds(60));

        var parked = await LoadAsync(v1);
        Assert.All(parked, s =>
        {
            Assert.Equal(1, s.Version);
            Assert.Equal(["reserve-stock", "wait-go"], s.Steps.Select(x => x.Name));
        });
        var fresh = await LoadAsync(v2);
        Assert.All(fresh, s =>
        {
            Assert.Equal(2, s.Version);
            Assert.Equal(["reserve-stock", "book-shipment"], s.Steps.Select(x => x.Name));
        });

        // The participants agree: every saga reserved once, only the v2 ones shipped.
        Assert.Equal(10_000 - Parked - Fresh, await Backend.Ledger.GetStockAsync(template.Sku));
        Assert.Empty(await Backend.Ledger.GetShipmentsAsync($"v1-{v1[0]:N}"));
        foreach (var id in v2)
        {
            Assert.Single(await Backend.Ledger.GetShipmentsAsync($"v2-{id:N}"));
        }

        var oldHistory = await Backend.GetHistoryAsync(v1[^1]);
        Assert.Equal("definition versioned-order@v1", oldHistory[0].Detail);
        Assert.Contains(oldHistory, h => h.Type == "SignalConsumed" && h.Step == "wait-go");
        var newHistory = await Backend.GetHistoryAsync(v2[0]);
        Assert.Equal("definition versioned-order@v2", newHistory[0].Detail);
        Assert.Contains(newHistory, h => h.Type == "StepSucceeded" && h.Step == "book-shipment");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"took {clock.Elapsed}");
    }

    private Task<HttpResponseMessage> RegisterAsync(SagaDefinition definition) =>
        Backend.Client.PostAsync(new Uri("/api/definitions", UriKind.Relative), new StringContent(DefinitionJson.Write(definition), Encoding.UTF8, "application/json"));

    private async Task<List<SagaInstance>> LoadAsync(IReadOnlyCollection<Guid> ids)
    {
        await using var db = Backend.Services.GetRequiredService<SagasDbFactory>().Create();
        var all = await db.Sagas.AsNoTracking().Where(s => s.Definition == Name).ToListAsync();
        var wanted = ids.ToHashSet();
        return all.Where(s => wanted.Contains(s.Id)).ToList();
    }

    private static Task ForEachAsync(IEnumerable<Guid> ids, Func<Guid, Task> action) =>
        Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (id, _) => await action(id));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"condition not met within {timeout}");
    }
}

/// <summary>On PostgreSQL and RabbitMQ.</summary>
public sealed class DistributedVersioningScenarios(DistributedBackend backend) : VersioningScenarios<DistributedBackend>(backend), IClassFixture<DistributedBackend>;

/// <summary>On SQLite with the in-memory transport.</summary>
public sealed class EmbeddedVersioningScenarios(EmbeddedBackend backend) : VersioningScenarios<EmbeddedBackend>(backend), IClassFixture<EmbeddedBackend>;
