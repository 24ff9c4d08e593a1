using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Sagas.Bench.Throughput.Peers.Courier;
using Sagas.Bench.Throughput.Peers.StateMachine;
using Sagas.Bench.Throughput.Peers.Wolverine;

namespace Sagas.Bench.Throughput.Peers;

/// <summary>`Sagas.Bench.Throughput host inmemory|courier|wolverine|rabbitmq|ours-participants`: one peer system (or the broker-limit relay, or ours' participants), run by the driver as a child process.</summary>
public static class PeerHost
{
    public static async Task<int> RunAsync(string kind)
    {
        if (kind == "rabbitmq")
        {
            return await Limits.RabbitRelay.RunAsync();
        }

        if (kind == "ours-participants")
        {
            return await Ours.OneWriteParticipants.RunAsync();
        }

        var settings = PeerSettings.FromEnvironment();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(settings.StepsConnectionString));
        builder.Services.AddSingleton<StepWriter>();
        switch (kind)
        {
            case "inmemory": builder.AddStateMachinePeer(settings); break;
            case "courier": builder.AddCourierPeer(settings); break;
            case "wolverine": builder.AddWolverinePeer(settings); break;
            default: throw new ArgumentException($"unknown peer {kind}");
        }

        await builder.Build().RunAsync();
        return 0;
    }
}
