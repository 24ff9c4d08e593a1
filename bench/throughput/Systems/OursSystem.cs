using Sagas.Bench.Throughput.Infra;
using Sagas.Bench.Throughput.Load;

namespace Sagas.Bench.Throughput.Systems;

/// <summary>
/// Ours in distributed mode: the Release coordinator and a participants host as separate processes, PostgreSQL and
/// RabbitMQ, configured as scripts/run-distributed.sh does (own databases, own vhost). The participants are either the
/// workload's (<c>ours</c>: one INSERT per step, as the peers' participants do, through the participant library; see
/// <see cref="Ours.OneWriteParticipants"/>) or the samples' (<c>ours-samples</c>: <c>Sagas.Samples.Host</c>, which also
/// updates a stock or balance row in two of the three steps).
/// </summary>
public sealed class OursSystem(BenchOptions options, Postgres postgres, int port, bool samples = false) : ISystemUnderTest
{
    public const string SamplesName = "ours-samples";

    private const int SeededKeys = 1000;

    private ChildProcess? coordinator;
    private ChildProcess? participants;

    public string Name => samples ? SamplesName : "ours";

    // Orders spread over 1,000 SKUs and customers so that participants do not all queue on one hot row.
    public StartMessage Start { get; } = StartMessage.MassTransit("sagas-coordinator", "urn:message:Sagas.Contracts:StartSaga", id => new
    {
        sagaId = id,
        definition = "order-fulfilment",
        data = new
        {
            orderId = $"o-{id:N}",
            customerId = $"bench-c-{Random.Shared.Next(SeededKeys)}",
            sku = $"bench-sku-{Random.Shared.Next(SeededKeys)}",
            quantity = 1,
            amount = 1.00m,
            country = "NL",
        },
    });

    public IReadOnlyList<string> TerminalExchanges { get; } = ["Sagas.Contracts:SagaCompleted", "Sagas.Contracts:SagaCompensated", "Sagas.Contracts:SagaFailed"];

    public string CoordinatorDatabase => options.Database("coordinator");

    public IReadOnlyList<string> CoordinatorDatabases => [CoordinatorDatabase];

    public IReadOnlyList<string> AllDatabases => [CoordinatorDatabase, Inventory, Payments, Shipping];

    public IReadOnlyList<int> ProcessIds => new[] { coordinator, participants }.OfType<ChildProcess>().Where(p => !p.HasExited).Select(p => p.Pid).ToList();

    public int CoordinatorPid => coordinator?.Pid ?? 0;

    public async Task LaunchAsync()
    {
        foreach (var database in AllDatabases)
        {
            await postgres.DropDatabaseAsync(database);
        }

        if (options.LogCoordinatorSql)
        {
            // Set before the coordinator's first connection (the setting applies to new sessions); its migrations run on the empty database.
            await postgres.RecreateDatabaseAsync(CoordinatorDatabase);
            await postgres.ExecuteAsync("postgres", $"ALTER DATABASE \"{CoordinatorDatabase}\" SET log_min_duration_statement = 0");
        }

        await LaunchCoordinatorAsync();
        await LaunchParticipantsAsync();
        await SeedAsync();
    }

    /// <summary>The coordinator alone: the in-flight memory test keeps the participants stopped so sagas pile up.</summary>
    public async Task LaunchCoordinatorAsync()
    {
        var environment = new Dictionary<string, string>
        {
            ["Sagas__Mode"] = "Distributed",
            ["Sagas__Database__Provider"] = "Postgres",
            ["ConnectionStrings__Sagas"] = postgres.ConnectionString(CoordinatorDatabase),
            ["Sagas__Transport__Kind"] = "RabbitMq",
            ["Sagas__Transport__RabbitMqUri"] = RabbitMqUri,
            ["Sagas__Auth__ApiKeys__0__Name"] = "bench",
            ["Sagas__Auth__ApiKeys__0__Key"] = "bench_" + Guid.NewGuid().ToString("N"),
            ["Sagas__Auth__ApiKeys__0__Role"] = "Admin",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in options.CoordinatorEnvironment)
        {
            environment[key] = value;
        }

        coordinator = ChildProcess.Start(Name + "-coordinator", "dotnet", [options.CoordinatorDll, "--urls", $"http://127.0.0.1:{port}"], environment, options.LogDirectory);
        await WaitReadyAsync();
    }

    public async Task StopAsync()
    {
        if (participants is not null)
        {
            await participants.DisposeAsync();
            participants = null;
        }

        if (coordinator is not null)
        {
            await coordinator.DisposeAsync();
            coordinator = null;
        }
    }

    public bool IsAlive() => coordinator is { HasExited: false } && (participants is null || !participants.HasExited);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (!options.Keep)
        {
            foreach (var database in AllDatabases)
            {
                await postgres.DropDatabaseAsync(database);
            }
        }
    }

    /// <summary>Each variant's own log files (also the coordinator's, named after <see cref="Name"/>), so that a run of both keeps them apart.</summary>
    private string ParticipantsLog => samples ? "ours-samples-participants" : "ours-participants";

    private string Inventory => options.Database("inventory");

    private string Payments => options.Database("payments");

    private string Shipping => options.Database("shipping");

    private string RabbitMqUri => $"amqp://guest:guest@{options.RabbitMqHost}:5672/{options.VirtualHost}";

    private async Task LaunchParticipantsAsync()
    {
        var environment = new Dictionary<string, string>
        {
            ["Samples__Provider"] = "Postgres",
            ["ConnectionStrings__Inventory"] = postgres.ConnectionString(Inventory),
            ["ConnectionStrings__Payments"] = postgres.ConnectionString(Payments),
            ["ConnectionStrings__Shipping"] = postgres.ConnectionString(Shipping),
            ["Sagas__Transport__Kind"] = "RabbitMq",
            ["Sagas__Transport__RabbitMqUri"] = RabbitMqUri,
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in options.ParticipantsEnvironment)
        {
            environment[key] = value;
        }

        string[] arguments = samples ? [options.ParticipantsDll, "--service", "all"] : [typeof(OursSystem).Assembly.Location, "host", "ours-participants"];
        participants = ChildProcess.Start(ParticipantsLog, "dotnet", arguments, environment, options.LogDirectory);
        await Task.CompletedTask;
    }

    private async Task WaitReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var until = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < until && coordinator is { HasExited: false })
        {
            try
            {
                if ((await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health/ready"))).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Busy starting.
            }

            await Task.Delay(250);
        }

        throw new InvalidOperationException($"the coordinator did not get ready; see {options.LogDirectory}/{Name}-coordinator.log");
    }

    /// <summary>
    /// The participants host creates its databases at start; once the tables exist, add the samples' SKUs and customers
    /// (the workload's participants need no data).
    /// </summary>
    private async Task SeedAsync()
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!await TablesExistAsync())
        {
            if (DateTime.UtcNow > until || participants is not { HasExited: false })
            {
                throw new InvalidOperationException($"the participants did not create their tables; see {options.LogDirectory}/{ParticipantsLog}.log");
            }

            await Task.Delay(250);
        }

        if (!samples)
        {
            return;
        }

        await postgres.ExecuteAsync(Inventory, $"INSERT INTO stock (sku, available) SELECT 'bench-sku-' || g, 1000000000 FROM generate_series(0, {SeededKeys - 1}) g ON CONFLICT DO NOTHING");
        await postgres.ExecuteAsync(Payments, $"INSERT INTO accounts (customer_id, balance_cents) SELECT 'bench-c-' || g, 100000000000 FROM generate_series(0, {SeededKeys - 1}) g ON CONFLICT DO NOTHING");
    }

    private async Task<bool> TablesExistAsync() => samples
        ? await postgres.TableExistsAsync(Inventory, "stock") && await postgres.TableExistsAsync(Payments, "accounts") && await postgres.TableExistsAsync(Shipping, "shipments")
        : await postgres.TableExistsAsync(Inventory, "step_writes") && await postgres.TableExistsAsync(Payments, "step_writes") && await postgres.TableExistsAsync(Shipping, "step_writes");
}
