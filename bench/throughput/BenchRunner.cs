using System.Diagnostics;
using Sagas.Bench.Throughput.Infra;
using Sagas.Bench.Throughput.Limits;
using Sagas.Bench.Throughput.Load;
using Sagas.Bench.Throughput.Systems;

namespace Sagas.Bench.Throughput;

/// <summary>Runs every selected system in turn on this machine, then prints the table and the RESULT line.</summary>
public static class BenchRunner
{
    private const int WarmupConcurrency = 32;

    public static async Task<int> RunAsync(BenchOptions options)
    {
        var postgres = new Postgres(options.Postgres);
        var measure = new Measure(postgres);
        var reports = new List<SystemReport>();
        InFlightReport? inFlight = null;
        double? halfOfOurs = options.Rate > 0 ? options.Rate : null;
        // What the limits replay per saga: ours' measured costs once ours ran, else its design (3 steps).
        var commitsPerSaga = 7;
        var messagesPerSaga = 8;
        var clock = Stopwatch.StartNew();

        try
        {
            foreach (var name in options.Systems)
            {
                Log($"{name}: start ({clock.Elapsed:mm\\:ss})");
                SystemReport report;
                try
                {
                    using var held = await ServicesLock.AcquireAsync(options.NoLock, Log);
                    await RabbitMqAdmin.RecreateVirtualHostAsync(options.VirtualHost);
                    report = name == "pgbench"
                        ? await RunPgBenchAsync(options, postgres, measure, commitsPerSaga, halfOfOurs)
                        : await RunSystemAsync(options, measure, Create(name, options, postgres, messagesPerSaga), halfOfOurs);
                }
                catch (Exception e)
                {
                    Log($"{name}: FAILED {e}");
                    report = SystemReport.Failed(name, e.Message.Split('\n')[0]);
                }

                reports.Add(report);
                if (name == "ours" && report.Peak is { } peak && report.CostPhase is { } costs)
                {
                    halfOfOurs ??= peak.Result.SagasPerSecond / 2;
                    commitsPerSaga = Math.Max(1, (int)Math.Round(costs.Costs.AllCommits));
                    messagesPerSaga = Math.Max(2, (int)Math.Round(costs.Costs.MessagesReceived));
                }

                Log($"{name}: done, peak {report.PeakSagasPerSecond:0} sagas/s ({clock.Elapsed:mm\\:ss})");
            }

            if (options.Systems.Contains("ours") && options.InFlight > 0)
            {
                Log($"in-flight memory test with {options.InFlight} sagas ({clock.Elapsed:mm\\:ss})");
                using var held = await ServicesLock.AcquireAsync(options.NoLock, Log);
                inFlight = await RunInFlightAsync(options, postgres);
            }
        }
        finally
        {
            if (!options.Keep)
            {
                using var held = await ServicesLock.AcquireAsync(options.NoLock, Log);
                await RabbitMqAdmin.DeleteVirtualHostAsync(options.VirtualHost);
            }
        }

        Report.Print(Console.Out, options, reports, inFlight, commitsPerSaga, messagesPerSaga);
        if (options.Keep)
        {
            // Left-over vhosts slowed later runs' broker (docs/benchmarks.md, tenth session): say how to drop them.
            Log($"kept the vhost {options.VirtualHost} and the databases {options.Prefix}_*. To drop them: rabbitmqctl delete_vhost {options.VirtualHost}, "
                + $"and DROP DATABASE ... WITH (FORCE) for each of: SELECT datname FROM pg_database WHERE starts_with(datname, '{options.Prefix}_')");
        }

        Log($"finished in {clock.Elapsed:mm\\:ss}");
        return 0;
    }

    private static ISystemUnderTest Create(string name, BenchOptions options, Postgres postgres, int messagesPerSaga) => name switch
    {
        "ours" => new OursSystem(options, postgres, FreePort()),
        OursSystem.SamplesName => new OursSystem(options, postgres, FreePort(), samples: true),
        _ => new PeerSystem(name, options, postgres, messagesPerSaga),
    };

    private static async Task<SystemReport> RunSystemAsync(BenchOptions options, Measure measure, ISystemUnderTest system, double? openRate)
    {
        await using var owned = system;
        await system.LaunchAsync();
        await using var driver = await LoadDriver.ConnectAsync(options.RabbitMqHost, options.VirtualHost, system.Start, system.TerminalExchanges);
        await driver.WaitForStartQueueAsync(TimeSpan.FromSeconds(90), system.IsAlive);

        var warmup = await driver.ClosedLoopAsync(WarmupConcurrency, TimeSpan.Zero, options.Warmup);
        Log($"{system.Name}: warm-up {warmup.SagasPerSecond:0} sagas/s, {warmup.NotCompleted} not completed, {warmup.Lost} lost");
        if (warmup.Finished == 0)
        {
            throw new InvalidOperationException($"no saga ended during the warm-up (lost {warmup.Lost}); see {options.LogDirectory}");
        }

        var closed = new List<Phase>();
        foreach (var concurrency in options.Concurrencies)
        {
            var settle = !options.Quick && concurrency == options.Concurrencies.Max();
            var (result, costs) = await measure.RunAsync(system.CoordinatorDatabases, system.AllDatabases, () => system.ProcessIds, system.CoordinatorPid,
                settle, () => driver.ClosedLoopAsync(concurrency, options.PhaseWarmup, options.ClosedDuration));
            closed.Add(new Phase(result, costs));
            Log($"{system.Name}: closed c={concurrency}: {result.SagasPerSecond:0} sagas/s, p99 {result.Percentile(99):0.0} ms, machine {costs.MachineBusyPercent:0}% busy, {costs.StealPercent:0}% stolen");
        }

        var rate = openRate ?? closed.Max(p => p.Result.SagasPerSecond) / 2;
        var (open, openCosts) = await measure.RunAsync(system.CoordinatorDatabases, system.AllDatabases, () => system.ProcessIds, system.CoordinatorPid,
            false, () => driver.OpenLoopAsync(rate, options.PhaseWarmup, options.OpenDuration));
        Log($"{system.Name}: open {rate:0}/s: p50 {open.Percentile(50):0.0} ms, p99 {open.Percentile(99):0.0} ms, lost {open.Lost}, machine {openCosts.MachineBusyPercent:0}% busy, {openCosts.StealPercent:0}% stolen, " +
            $"{openCosts.MessagesReceived:0.00} msgs/saga, CPU {openCosts.SystemCpuMs + openCosts.InfraCpuMs:0.0} ms/saga");
        return new SystemReport(system.Name, closed, new Phase(open, openCosts), ProcessStats.PeakResidentMiB(system.CoordinatorPid));
    }

    private static async Task<SystemReport> RunPgBenchAsync(BenchOptions options, Postgres postgres, Measure measure, int commitsPerSaga, double? openRate)
    {
        var executable = options.PgBench.Length > 0 ? options.PgBench : FindPgBench();
        var pgbench = new PgBench(executable, postgres, options.Postgres, Path.GetFullPath(Path.Combine(options.LogDirectory, "pgbench")), options.Database("pgbench"));
        await pgbench.PrepareAsync();
        try
        {
            string[] databases = [pgbench.Database];
            async Task<Phase> Run(int clients, double rate, TimeSpan duration)
            {
                var settle = !options.Quick && rate == 0 && clients == options.Concurrencies.Max();
                var (result, costs) = await measure.RunAsync(databases, databases, () => [], 0, settle, () => pgbench.RunAsync(commitsPerSaga, clients, rate, duration));
                return new Phase(result, costs with { SystemCpuMs = pgbench.LastCpuSeconds * 1000 / Math.Max(1, result.Finished) });
            }

            var closed = new List<Phase>();
            foreach (var concurrency in options.Concurrencies)
            {
                closed.Add(await Run(concurrency, 0, options.ClosedDuration));
                Log($"pgbench: c={concurrency}: {closed[^1].Result.SagasPerSecond:0} sagas/s ({commitsPerSaga} commits each)");
            }

            var rate = openRate ?? closed.Max(p => p.Result.SagasPerSecond) / 2;
            var open = await Run(options.Concurrencies.Max(), rate, options.OpenDuration);
            return new SystemReport("pgbench", closed, open, 0);
        }
        finally
        {
            if (!options.Keep)
            {
                await pgbench.DropAsync();
            }
        }
    }

    private static async Task<InFlightReport> RunInFlightAsync(BenchOptions options, Postgres postgres)
    {
        await RabbitMqAdmin.RecreateVirtualHostAsync(options.VirtualHost);
        await using var ours = new OursSystem(options, postgres, FreePort());
        try
        {
            await postgres.DropDatabaseAsync(ours.CoordinatorDatabase);
            await ours.LaunchCoordinatorAsync();
            await using var driver = await LoadDriver.ConnectAsync(options.RabbitMqHost, options.VirtualHost, ours.Start, ours.TerminalExchanges);
            await driver.WaitForStartQueueAsync(TimeSpan.FromSeconds(60), ours.IsAlive);
            var before = ProcessStats.PeakResidentMiB(ours.CoordinatorPid);
            var clock = Stopwatch.StartNew();
            await driver.StartWithoutWaitingAsync(options.InFlight);
            long stored = 0;
            while (clock.Elapsed < TimeSpan.FromMinutes(3) && ours.IsAlive())
            {
                stored = await postgres.ScalarAsync(ours.CoordinatorDatabase, "SELECT count(*) FROM sagas");
                if (stored >= options.InFlight)
                {
                    break;
                }

                await Task.Delay(250);
            }

            var startedIn = clock.Elapsed;
            // A moment for whatever the coordinator does with sagas waiting on their participants (outbox, timers).
            await Task.Delay(TimeSpan.FromSeconds(2));
            return new InFlightReport(options.InFlight, (int)stored, startedIn, ProcessStats.PeakResidentMiB(ours.CoordinatorPid), before);
        }
        catch (Exception e)
        {
            Log($"in-flight test FAILED {e}");
            return new InFlightReport(options.InFlight, 0, TimeSpan.Zero, 0, 0, e.Message.Split('\n')[0]);
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindPgBench() =>
        Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d).Select(d => Path.Combine(d, "bin", "pgbench")).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("pgbench not found under /usr/lib/postgresql/*/bin (use --pgbench PATH)");

    private static void Log(string message) => Console.Error.WriteLine($"[bench] {message}");
}
