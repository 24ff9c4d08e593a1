using System.Diagnostics;
using System.Globalization;

namespace Sagas.Bench.Throughput.Infra;

/// <summary>Broker counters: the node's global AMQP counters (RabbitMQ 3.9+, no management plugin needed).</summary>
public readonly record struct BrokerCounters(long Received, long Routed, long Delivered)
{
    public static BrokerCounters operator -(BrokerCounters a, BrokerCounters b) => new(a.Received - b.Received, a.Routed - b.Routed, a.Delivered - b.Delivered);
}

/// <summary>Vhost set-up and message counters through rabbitmqctl (the CLI is on this machine; no HTTP API needed).</summary>
public static class RabbitMqAdmin
{
    // The counters are node-wide, not per vhost: another process using the broker during a run would be counted.
    // scripts/bench.sh holds /tmp/sagas-services.lock, the lock every heavy user of the shared services takes.
    private const string CountersExpression =
        "M = rabbit_global_counters:overview(), P = maps:get([{protocol,amqp091}], M), " +
        "C = maps:get([{protocol,amqp091},{queue_type,rabbit_classic_queue}], M), " +
        "Q = maps:get([{protocol,amqp091},{queue_type,rabbit_quorum_queue}], M), " +
        "io:format(\"~p ~p ~p~n\", [maps:get(messages_received_total, P), maps:get(messages_routed_total, P), " +
        "maps:get(messages_delivered_total, C) + maps:get(messages_delivered_total, Q)]).";

    public static async Task RecreateVirtualHostAsync(string vhost)
    {
        await DeleteVirtualHostAsync(vhost);
        await RunAsync("add_vhost", vhost);
        await RunAsync("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
    }

    public static async Task DeleteVirtualHostAsync(string vhost)
    {
        try
        {
            await RunAsync("delete_vhost", vhost);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("does not exist", StringComparison.Ordinal))
        {
            // Nothing to delete.
        }
    }

    public static async Task<BrokerCounters> CountersAsync()
    {
        var output = await RunAsync("eval", CountersExpression);
        var numbers = output.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(t => t.All(char.IsDigit)).Select(t => long.Parse(t, CultureInfo.InvariantCulture)).ToList();
        return numbers.Count >= 3 ? new BrokerCounters(numbers[0], numbers[1], numbers[2]) : throw new InvalidOperationException($"unexpected rabbitmqctl output: {output}");
    }

    public static async Task<int> BeamPidAsync()
    {
        var pids = ProcessStats.FindByName("beam.smp");
        return pids.Count > 0 ? pids[0] : throw new InvalidOperationException("no beam.smp process (is RabbitMQ running?)");
    }

    private static async Task<string> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("rabbitmqctl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["ERL_EPMD_ADDRESS"] = "127.0.0.1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start rabbitmqctl");
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', args)} failed: {error}{output}");
    }
}
