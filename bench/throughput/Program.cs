using Sagas.Bench.Throughput;
using Sagas.Bench.Throughput.Peers;

// scripts/bench.sh runs the comparison; `host <peer>` is how the driver starts a peer system as its own process.
if (args is ["host", var peer])
{
    return await PeerHost.RunAsync(peer);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    await Console.Error.WriteLineAsync($"[bench] {ex.Message} (scripts/bench.sh --help lists the options)");
    return 2;
}

return await BenchRunner.RunAsync(options);
