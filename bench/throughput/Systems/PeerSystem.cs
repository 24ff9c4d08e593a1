using Sagas.Bench.Throughput.Infra;
using Sagas.Bench.Throughput.Load;
using Sagas.Bench.Throughput.Peers;
using Sagas.Bench.Throughput.Peers.Courier;
using Sagas.Bench.Throughput.Peers.StateMachine;
using Sagas.Bench.Throughput.Peers.Wolverine;

namespace Sagas.Bench.Throughput.Systems;

/// <summary>
/// A peer (MassTransit state machine, Courier or Wolverine) in one child process: orchestration and its three
/// participants; or the raw RabbitMQ relay of the broker limit, carrying <paramref name="messagesPerSaga"/> messages per saga.
/// </summary>
public sealed class PeerSystem(string kind, BenchOptions options, Postgres postgres, int messagesPerSaga = 8) : ISystemUnderTest
{
    private ChildProcess? host;

    public string Name => kind;

    public StartMessage Start { get; } = kind switch
    {
        "inmemory" => StartMessage.MassTransit(StateMachineHost.Prefix + StateMachineHost.OrdersQueue, Urn<StartOrder>(), id => new StartOrder(id)),
        "courier" => StartMessage.MassTransit(CourierHost.OrdersQueue, Urn<StartOrder>(), id => new StartOrder(id)),
        "wolverine" => StartMessage.RawJson(WolverineHost.OrdersQueue, id => new StartOrder(id)),
        "rabbitmq" => StartMessage.RawJson(Limits.RabbitRelay.FirstQueue, id => new OrderFinished(id, true)),
        _ => throw new ArgumentException($"unknown peer {kind}"),
    };

    public IReadOnlyList<string> TerminalExchanges { get; } = kind switch
    {
        "inmemory" => [$"{typeof(OrderFinished).Namespace}:{nameof(OrderFinished)}"],
        "wolverine" => [WolverineHost.FinishedExchange],
        _ => [],
    };

    public IReadOnlyList<string> CoordinatorDatabases => kind == "wolverine" ? [WolverineDatabase] : [];

    public IReadOnlyList<string> AllDatabases => kind == "rabbitmq" ? [] : [.. CoordinatorDatabases, StepsDatabase];

    private string WolverineDatabase => options.Database("wolverine");

    private string StepsDatabase => options.Database("peer_steps");

    public IReadOnlyList<int> ProcessIds => host is { HasExited: false } ? [host.Pid] : [];

    public int CoordinatorPid => host?.Pid ?? 0;

    public async Task LaunchAsync()
    {
        foreach (var database in AllDatabases)
        {
            await postgres.RecreateDatabaseAsync(database);
        }

        if (AllDatabases.Contains(StepsDatabase))
        {
            await postgres.ExecuteAsync(StepsDatabase, StepWriter.Schema);
        }

        var self = typeof(PeerSystem).Assembly.Location;
        host = ChildProcess.Start($"peer-{kind}", "dotnet", [self, "host", kind], new Dictionary<string, string>
        {
            ["BENCH_RABBITMQ_HOST"] = options.RabbitMqHost,
            ["BENCH_VHOST"] = options.VirtualHost,
            ["BENCH_STEPS_DB"] = postgres.ConnectionString(StepsDatabase),
            ["BENCH_STORE_DB"] = postgres.ConnectionString(WolverineDatabase),
            ["BENCH_MESSAGES_PER_SAGA"] = messagesPerSaga.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, options.LogDirectory);
    }

    public bool IsAlive() => host is { HasExited: false };

    public async ValueTask DisposeAsync()
    {
        if (host is not null)
        {
            await host.DisposeAsync();
        }

        if (!options.Keep)
        {
            foreach (var database in AllDatabases)
            {
                await postgres.DropDatabaseAsync(database);
            }
        }
    }

    private static string Urn<T>() => $"urn:message:{typeof(T).Namespace}:{typeof(T).Name}";
}
