using Sagas.Bench.Throughput;
using Sagas.Bench.Throughput.Peers;

// scripts/bench.sh runs the comparison; `host <peer>` is how the driver starts a peer system as its own process.
return args is ["host", var peer]
    ? await PeerHost.RunAsync(peer)
    : await BenchRunner.RunAsync(BenchOptions.Parse(args));
