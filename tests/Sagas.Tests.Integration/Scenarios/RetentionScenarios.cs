using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Coordinator.Persistence;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>The embedded backend with retention keeping finished sagas for 3 s and running every 500 ms.</summary>
public sealed class RetentionBackend : SagaBackend
{
    public static readonly TimeSpan KeepFor = TimeSpan.FromSeconds(3);

    public override string Name => "SQLite + in-memory transport, retention 3 s";

    protected override Task<Dictionary<string, string?>> SettingsAsync()
    {
        var data = Path.Combine(WorkDirectory, "data");
        Directory.CreateDirectory(data);
        return Task.FromResult(new Dictionary<string, string?>
        {
            ["Sagas:Mode"] = "Embedded",
            ["Sagas:Database:Provider"] = "Sqlite",
            ["ConnectionStrings:Sagas"] = $"Data Source={Path.Combine(data, "sagas.db")}",
            ["Sagas:Transport:Kind"] = "InMemory",
            ["Samples:Provider"] = "Sqlite",
            ["Samples:Inventory"] = Path.Combine(data, "inventory.db"),
            ["Samples:Payments"] = Path.Combine(data, "payments.db"),
            ["Samples:Shipping"] = Path.Combine(data, "shipping.db"),
            ["Sagas:Retention:KeepFor"] = KeepFor.ToString(),
            ["Sagas:Retention:Interval"] = "00:00:00.500",
            ["Sagas:Retention:BatchSize"] = "2",
        });
    }
}

/// <summary>
/// Finished sagas older than <c>Sagas:Retention:KeepFor</c> disappear with their history, recorded events,
/// compensation rows and inbox rows; a Failed saga (it needs a person) and a Running one stay.
/// </summary>
public sealed class RetentionScenarios(RetentionBackend backend) : IClassFixture<RetentionBackend>
{
    [Fact]
    public async Task Retention_FinishedSagasDeletedWithTheirRows_FailedAndRunningKept()
    {
        // Running: held at charge-payment until the end of the test (the shipped definition's timeouts are long).
        var release = new TaskCompletionSource();
        var running = Guid.NewGuid();
        backend.Faults.Hold(f => f.SagaId == running && f.Step == "charge-payment", release.Task, times: int.MaxValue);
        await backend.StartAsync(TestDefinitions.Shipped, await backend.NewOrderAsync(), running);

        // Failed: its refund is refused, so the rollback cannot finish.
        var failed = Guid.NewGuid();
        backend.Faults.FailCompensation(f => f.SagaId == failed && f.Step == "charge-payment", retryable: false, reason: "refund refused");
        await backend.StartAsync(TestDefinitions.Fast, await backend.NewOrderAsync(country: "AQ"), failed);

        // Finished: three completed (more than one batch of 2) and one compensated.
        var finished = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            finished.Add(await backend.StartAsync(TestDefinitions.Fast, await backend.NewOrderAsync(country: i < 3 ? "NL" : "AQ")));
        }

        for (var i = 0; i < finished.Count; i++)
        {
            await backend.WaitForStateAsync(finished[i], i < 3 ? "Completed" : "Compensated");
        }

        await backend.WaitForStateAsync(failed, "Failed");
        foreach (var id in finished)
        {
            var rows = await RowsAsync(id);
            Assert.True(rows is { Saga: 1, History: > 0, Events: > 0, Inbox: > 0 }, $"{id} before retention: {rows}");
        }

        Assert.True((await RowsAsync(finished[3])).Compensations > 0);

        // Gone once older than KeepFor (+ one interval).
        var deadline = DateTime.UtcNow + RetentionBackend.KeepFor + TimeSpan.FromSeconds(15);
        while (true)
        {
            var left = new List<string>();
            foreach (var id in finished)
            {
                var rows = await RowsAsync(id);
                if (rows != Rows.None)
                {
                    left.Add($"{id}: {rows}");
                }
            }

            if (left.Count == 0)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "not deleted:\n" + string.Join("\n", left));
            await Task.Delay(250);
        }

        // Two more retention runs after the Failed and Running sagas passed KeepFor: both stay, with their history.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var kept = await RowsAsync(failed);
        Assert.True(kept is { Saga: 1, History: > 0, Events: > 0, Compensations: > 0 }, $"failed saga: {kept}");
        Assert.Equal("Failed", (await backend.GetSagaAsync(failed)).GetProperty("state").GetString());
        kept = await RowsAsync(running);
        Assert.True(kept is { Saga: 1, History: > 0, Events: > 0 }, $"running saga: {kept}");
        Assert.Equal("Running", (await backend.GetSagaAsync(running)).GetProperty("state").GetString());

        release.SetResult();
    }

    private async Task<Rows> RowsAsync(Guid id)
    {
        await using var db = backend.Services.GetRequiredService<SagasDbFactory>().Create();
        return new Rows(
            await db.Sagas.CountAsync(s => s.Id == id),
            await db.History.CountAsync(h => h.SagaId == id),
            await db.Events.CountAsync(e => e.SagaId == id),
            await db.Compensations.CountAsync(c => c.SagaId == id),
            await db.Inbox.CountAsync(i => i.SagaId == id));
    }

    private sealed record Rows(int Saga, int History, int Events, int Compensations, int Inbox)
    {
        public static Rows None { get; } = new(0, 0, 0, 0, 0);
    }
}
