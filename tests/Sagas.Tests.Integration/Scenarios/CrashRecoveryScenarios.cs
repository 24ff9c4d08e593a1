using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Sagas.Contracts.Definitions;
using Sagas.Samples;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Scenario (f): processes die with SIGKILL mid-saga and come back. Every saga must still finish, and the
/// participants' own databases must show each effect exactly once.
/// </summary>
public sealed class CrashRecoveryScenarios(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Definition = "order-crash";
    private const string Reserve = "reserve-stock";
    private const string Charge = "charge-payment";
    private const string Book = "book-shipment";

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<ChildProcess> _processes = [];
    private bool _failed = true;

    private string WorkDirectory { get; } = Directory.CreateTempSubdirectory("sagas-crash-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_failed)
        {
            // Passed tests stay quiet; a failure shows what the processes said.
            foreach (var process in _processes)
            {
                output.WriteLine(process.ReadLogTail(150));
            }
        }

        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        if (!_failed)
        {
            // A failed run keeps its SQLite files and process logs for a look.
            try
            {
                Directory.Delete(WorkDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    [Fact]
    public async Task EmbeddedCoordinator_KilledWhileStep3InFlight_RestartedStepRedrivenAndCompletesOnce()
    {
        var (coordinator, ledger) = await StartEmbeddedAsync();
        var order = await ledger.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();

        // Shipping cannot write: the saga stops with steps 1 and 2 done and step 3's command in flight in memory.
        await using (await ledger.LockShipmentsAsync())
        {
            await StartAsync(coordinator, order, id);
            var saga = await WaitForAsync(coordinator, id, s => StepStatus(s, Reserve) == "Succeeded" && StepStatus(s, Charge) == "Succeeded" && StepStatus(s, Book) is "Running" or "RetryScheduled" or "TimedOut", "step 3 in flight");
            Assert.Equal("Running", State(saga));
            await coordinator.KillAsync();
        }

        // Steps 1 and 2 took effect; step 3 did not (the process died with the command and the shipping transaction).
        Assert.Equal(98, await ledger.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(975m, await ledger.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Empty(await ledger.Ledger.GetShipmentsAsync(order.OrderId));

        await coordinator.RestartAsync();
        var done = await WaitForStateAsync(coordinator, id, "Completed");

        Assert.Equal(98, await ledger.Ledger.GetStockAsync(order.Sku));
        Assert.Equal(975m, await ledger.Ledger.GetBalanceAsync(order.CustomerId));
        Assert.Single(await ledger.Ledger.GetChargesAsync(order.CustomerId));
        Assert.False(Assert.Single(await ledger.Ledger.GetShipmentsAsync(order.OrderId)).Cancelled);
        Assert.True(StepAttempts(done, Book) >= 2, $"book-shipment should have been re-driven after the restart; attempts {StepAttempts(done, Book)}");
        var history = await HistoryAsync(coordinator, id);
        Assert.Equal([Reserve, Charge, Book], history.Where(h => h.Type == "StepSucceeded").Select(h => h.Step));
        Assert.Single(history, h => h.Type == "SagaStarted");
        Assert.Single(history, h => h.Type == "SagaCompleted");
        _failed = false;
    }

    [Fact]
    public async Task EmbeddedCoordinator_KilledThreeTimesDuringABatch_AllCompleteAndLedgerMatchesExactly()
    {
        var (coordinator, ledger) = await StartEmbeddedAsync();
        var shared = await ledger.NewOrderAsync(stock: 10_000, balance: 100_000m);
        var orders = new List<(Guid Id, Order Order)>();
        var pauses = new[] { 150, 400, 50 };
        for (var round = 0; round < pauses.Length; round++)
        {
            // Start a few more each round, then die at an arbitrary point of their progress.
            for (var i = 0; i < 5; i++)
            {
                var order = shared with { OrderId = $"o-{Guid.NewGuid():N}", Quantity = 1 + (i % 3), Amount = 10m + i };
                var id = Guid.NewGuid();
                await StartAsync(coordinator, order, id);
                orders.Add((id, order));
            }

            await Task.Delay(pauses[round]);
            var states = await DescribeAsync(coordinator, orders.Select(o => o.Id));
            await coordinator.KillAsync();
            output.WriteLine($"kill {round + 1}: {states}");
            await coordinator.StartAsync();
        }

        await WaitForAllAsync(coordinator, orders.Select(o => o.Id), "Completed", TimeSpan.FromSeconds(45));

        await AssertLedgerAsync(ledger, shared, orders.Select(o => o.Order).ToList(), 10_000, 100_000m);
        foreach (var (id, _) in orders)
        {
            var history = await HistoryAsync(coordinator, id);
            Assert.Equal([Reserve, Charge, Book], history.Where(h => h.Type == "StepSucceeded").Select(h => h.Step));
            Assert.Single(history, h => h.Type == "SagaCompleted");
        }

        _failed = false;
    }

    [Fact]
    public async Task DistributedCoordinator_KilledWithSagasAtEveryStep_RestartedAllCompleteAndLedgerMatchesExactly()
    {
        var rig = await StartDistributedAsync();
        var coordinator = rig.Coordinator;
        var shared = await rig.Ledger.NewOrderAsync(stock: 10_000, balance: 100_000m);
        var orders = new List<(Guid Id, Order Order)>();

        await using (await rig.Ledger.LockShipmentsAsync())
        {
            // Batch A waits at step 3 (shipping blocked, its transactions open); batch B is started just before
            // the kill, so its sagas are anywhere between the start commit and step 3.
            orders.AddRange(await StartBatchAsync(coordinator, shared, 10));
            foreach (var (id, _) in orders)
            {
                await WaitForAsync(coordinator, id, s => StepStatus(s, Charge) == "Succeeded", "waiting at step 3");
            }

            var states = await DescribeAsync(coordinator, orders.Select(o => o.Id));
            Assert.Equal("Running after 2 step(s): 10", states);
            orders.AddRange(await StartBatchAsync(coordinator, shared, 10));
            await coordinator.KillAsync();
            output.WriteLine($"killed the coordinator right after starting batch B; batch A: {states}");
        }

        // Shipping now commits and replies into the coordinator's queue while nobody consumes it.
        await Task.Delay(1000);
        await coordinator.StartAsync();
        await WaitForAllAsync(coordinator, orders.Select(o => o.Id), "Completed", TimeSpan.FromSeconds(45));

        await AssertLedgerAsync(rig.Ledger, shared, orders.Select(o => o.Order).ToList(), 10_000, 100_000m);
        await AssertNoDuplicateEffectsInHistoryAsync(coordinator, orders.Select(o => o.Id));
        _failed = false;
    }

    [Fact]
    public async Task DistributedParticipants_KilledMidRunAndRestarted_AllCompleteAndLedgerMatchesExactly()
    {
        var rig = await StartDistributedAsync();
        var coordinator = rig.Coordinator;
        var shared = await rig.Ledger.NewOrderAsync(stock: 10_000, balance: 100_000m);
        var orders = new List<(Guid Id, Order Order)>();

        await using (await rig.Ledger.LockShipmentsAsync())
        {
            // Shipping is inside its transactions (barrier row written, shipment insert blocked) when it dies.
            orders.AddRange(await StartBatchAsync(coordinator, shared, 10));
            foreach (var (id, _) in orders)
            {
                await WaitForAsync(coordinator, id, s => StepStatus(s, Charge) == "Succeeded", "waiting at step 3");
            }

            await rig.Participants.KillAsync();
        }

        // Commands for a second batch pile up in the participants' queues while they are down.
        orders.AddRange(await StartBatchAsync(coordinator, shared, 10));
        await Task.Delay(500);
        await rig.Participants.StartAsync();
        await WaitForAllAsync(coordinator, orders.Select(o => o.Id), "Completed", TimeSpan.FromSeconds(45));

        await AssertLedgerAsync(rig.Ledger, shared, orders.Select(o => o.Order).ToList(), 10_000, 100_000m);
        await AssertNoDuplicateEffectsInHistoryAsync(coordinator, orders.Select(o => o.Id));
        _failed = false;
    }

    private async Task<(CoordinatorProcess Coordinator, ParticipantLedger Ledger)> StartEmbeddedAsync()
    {
        var data = Path.Combine(WorkDirectory, "data");
        Directory.CreateDirectory(data);
        var samples = SamplesOptions.ForSqlite(data);
        var ledger = await ParticipantLedger.CreateAsync(samples);
        _owned.Add(ledger);
        var coordinator = await StartCoordinatorAsync(new Dictionary<string, string?>
        {
            ["Sagas:Mode"] = "Embedded",
            ["Sagas:Database:Provider"] = "Sqlite",
            ["ConnectionStrings:Sagas"] = $"Data Source={Path.Combine(data, "sagas.db")}",
            ["Sagas:Transport:Kind"] = "InMemory",
            ["Samples:Provider"] = "Sqlite",
            ["Samples:Inventory"] = samples.Inventory,
            ["Samples:Payments"] = samples.Payments,
            ["Samples:Shipping"] = samples.Shipping,
        });
        return (coordinator, ledger);
    }

    private async Task<DistributedRig> StartDistributedAsync()
    {
        var (rabbit, postgres) = await TestServices.GetAsync();
        var unique = "crash_" + Guid.NewGuid().ToString("N")[..8];
        var broker = await TestServices.CreateVhostAsync(rabbit, "sagas-" + unique);
        _owned.Add(TestServices.OwnVhost("sagas-" + unique));
        _owned.Add(TestServices.OwnDatabases("sagas_" + unique));
        var samples = SamplesOptions.ForPostgres(postgres, $"sagas_{unique}_");
        var ledger = await ParticipantLedger.CreateAsync(samples);
        _owned.Add(ledger);
        var transport = new Dictionary<string, string?>
        {
            ["Sagas:Transport:Kind"] = "RabbitMq",
            ["Sagas:Transport:RabbitMqUri"] = broker.ToString(),
        };

        // Participants first: the coordinator's first commands then find their queues consumed.
        var participants = new ParticipantsProcess(WorkDirectory, new Dictionary<string, string?>(transport)
        {
            ["Samples:Provider"] = "Postgres",
            ["ConnectionStrings:Inventory"] = samples.Inventory,
            ["ConnectionStrings:Payments"] = samples.Payments,
            ["ConnectionStrings:Shipping"] = samples.Shipping,
        }, broker);
        _owned.Add(participants);
        _processes.Add(participants);
        await participants.StartAsync();

        var coordinator = await StartCoordinatorAsync(new Dictionary<string, string?>(transport)
        {
            ["Sagas:Mode"] = "Distributed",
            ["Sagas:HostSampleParticipants"] = "false",
            ["Sagas:Database:Provider"] = "Postgres",
            ["ConnectionStrings:Sagas"] = new NpgsqlConnectionStringBuilder(postgres) { Database = $"sagas_{unique}" }.ConnectionString,
        });
        return new DistributedRig(coordinator, participants, ledger);
    }

    private async Task<CoordinatorProcess> StartCoordinatorAsync(Dictionary<string, string?> settings)
    {
        settings["Sagas:DefinitionsPath"] = WriteDefinitions();
        settings["Sagas:TimerPollInterval"] = "00:00:00.100";
        settings["Sagas:OutboxSweepAge"] = "00:00:02";
        var coordinator = new CoordinatorProcess(WorkDirectory, settings);
        _owned.Add(coordinator);
        _processes.Add(coordinator);
        await coordinator.StartAsync();
        return coordinator;
    }

    /// <summary>The shipped definitions plus <c>order-crash</c>: short timeouts and enough attempts to ride out a restart.</summary>
    private string WriteDefinitions()
    {
        var folder = Path.Combine(WorkDirectory, "definitions");
        TestDefinitions.WriteAll(folder);
        var definition = SagaDefinitionBuilder.Create(Definition)
            .Step(Reserve, s => Tolerant(s.On("inventory").Action("reserve").Compensation("release")))
            .Step(Charge, s => Tolerant(s.On("payments").Action("charge").Compensation("refund")))
            .Step(Book, s => Tolerant(s.On("shipping").Action("book").Compensation("cancel")))
            .Build();
        File.WriteAllText(Path.Combine(folder, Definition + ".json"), DefinitionJson.Write(definition));
        return folder;
    }

    private static StepBuilder Tolerant(StepBuilder step) => step
        .Timeout(TimeSpan.FromSeconds(2))
        .Retry(8, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1))
        .CompensationRetry(8, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));

    private static async Task<List<(Guid Id, Order Order)>> StartBatchAsync(CoordinatorProcess coordinator, Order shared, int count)
    {
        var started = new List<(Guid, Order)>();
        for (var i = 0; i < count; i++)
        {
            var order = shared with { OrderId = $"o-{Guid.NewGuid():N}", Quantity = 1 + (i % 4), Amount = 5m + i };
            var id = Guid.NewGuid();
            await StartAsync(coordinator, order, id);
            started.Add((id, order));
        }

        return started;
    }

    private static async Task StartAsync(CoordinatorProcess coordinator, Order order, Guid id)
    {
        using var response = await coordinator.Client.PostAsJsonAsync(new Uri("api/sagas", UriKind.Relative), new { definition = Definition, sagaId = id, data = order.ToJson() });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 202, $"start returned {(int)response.StatusCode}: {body}");
    }

    /// <summary>Each order took its quantity, its amount and exactly one shipment: no more, no less.</summary>
    private static async Task AssertLedgerAsync(ParticipantLedger ledger, Order shared, List<Order> orders, long stock, decimal balance)
    {
        Assert.Equal(stock - orders.Sum(o => o.Quantity), await ledger.Ledger.GetStockAsync(shared.Sku));
        Assert.Equal(balance - orders.Sum(o => o.Amount), await ledger.Ledger.GetBalanceAsync(shared.CustomerId));
        Assert.Equal(orders.Count, (await ledger.Ledger.GetChargesAsync(shared.CustomerId)).Count);
        Assert.Equal(orders.Count, (await ledger.Ledger.GetReservationsAsync(shared.Sku)).Count);
        foreach (var order in orders)
        {
            var shipment = Assert.Single(await ledger.Ledger.GetShipmentsAsync(order.OrderId));
            Assert.False(shipment.Cancelled);
        }
    }

    private static async Task AssertNoDuplicateEffectsInHistoryAsync(CoordinatorProcess coordinator, IEnumerable<Guid> ids)
    {
        foreach (var id in ids)
        {
            var history = await HistoryAsync(coordinator, id);
            Assert.Equal([Reserve, Charge, Book], history.Where(h => h.Type == "StepSucceeded").Select(h => h.Step));
            Assert.Single(history, h => h.Type == "SagaStarted");
            Assert.Single(history, h => h.Type == "SagaCompleted");
            Assert.DoesNotContain(history, h => h.Type.Contains("Compensat", StringComparison.Ordinal));
        }
    }

    private static async Task<JsonElement> WaitForStateAsync(CoordinatorProcess coordinator, Guid id, string state, int seconds = 40) =>
        await WaitForAsync(coordinator, id, s => State(s) == state, state, seconds);

    private static async Task<JsonElement> WaitForAsync(CoordinatorProcess coordinator, Guid id, Func<JsonElement, bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        JsonElement? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await coordinator.TryGetSagaAsync(id);
            if (last is { } saga && condition(saga))
            {
                return saga;
            }

            await Task.Delay(100);
        }

        var history = await HistoryAsync(coordinator, id);
        throw new TimeoutException($"saga {id}: not '{what}' within {seconds} s; last view: {last}\nhistory:\n{string.Join('\n', history)}");
    }

    private static async Task WaitForAllAsync(CoordinatorProcess coordinator, IEnumerable<Guid> ids, string state, TimeSpan timeout)
    {
        var pending = ids.ToHashSet();
        var deadline = DateTime.UtcNow + timeout;
        while (pending.Count > 0 && DateTime.UtcNow < deadline)
        {
            foreach (var id in pending.ToList())
            {
                if (await coordinator.TryGetSagaAsync(id) is { } saga && State(saga) == state)
                {
                    pending.Remove(id);
                }
            }

            await Task.Delay(200);
        }

        if (pending.Count > 0)
        {
            var first = pending.First();
            var history = await HistoryAsync(coordinator, first);
            Assert.Fail($"{pending.Count} saga(s) not {state} within {timeout.TotalSeconds:0} s ({await DescribeAsync(coordinator, pending)}); e.g. {first}:\n{string.Join('\n', history)}");
        }
    }

    /// <summary>"Running: 12, Completed: 8", counting step progress for the running ones.</summary>
    private static async Task<string> DescribeAsync(CoordinatorProcess coordinator, IEnumerable<Guid> ids)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            var saga = await coordinator.TryGetSagaAsync(id);
            var key = saga is { } s
                ? State(s) == "Running" ? $"Running after {s.GetProperty("steps").EnumerateArray().Count(x => x.GetProperty("status").GetString() == "Succeeded")} step(s)" : State(s)!
                : "missing";
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        return string.Join(", ", counts.Select(c => $"{c.Key}: {c.Value}"));
    }

    private static async Task<List<HistoryLine>> HistoryAsync(CoordinatorProcess coordinator, Guid id)
    {
        try
        {
            return await coordinator.Client.GetFromJsonAsync<List<HistoryLine>>(new Uri($"api/sagas/{id}/history", UriKind.Relative), JsonDefaults.Web) ?? [];
        }
        catch (HttpRequestException)
        {
            return [];
        }
    }

    private static string? State(JsonElement saga) => saga.GetProperty("state").GetString();

    private static string? StepStatus(JsonElement saga, string step) =>
        saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == step).GetProperty("status").GetString();

    private static int StepAttempts(JsonElement saga, string step) =>
        saga.GetProperty("steps").EnumerateArray().First(s => s.GetProperty("name").GetString() == step).GetProperty("attempts").GetInt32();

    private sealed record DistributedRig(CoordinatorProcess Coordinator, ParticipantsProcess Participants, ParticipantLedger Ledger);
}
