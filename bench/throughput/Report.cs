using System.Globalization;
using System.Text.Json;

namespace Sagas.Bench.Throughput;

/// <summary>The markdown tables and the closing <c>RESULT {json}</c> line.</summary>
public static class Report
{
    private static readonly Dictionary<string, string> Labels = new()
    {
        ["ours"] = "ours (distributed: coordinator + participants host, one INSERT per step)",
        ["ours-samples"] = "ours with the sample participants (stock/balance UPDATE + INSERT)",
        ["inmemory"] = "MassTransit state machine, in-memory repository",
        ["courier"] = "MassTransit Courier routing slip",
        ["wolverine"] = "Wolverine saga, PostgreSQL durability",
        ["pgbench"] = "limit: pgbench, same commits per saga",
        ["rabbitmq"] = "limit: raw RabbitMQ, same messages per saga",
    };

    public static void Print(TextWriter output, BenchOptions options, IReadOnlyList<SystemReport> reports, InFlightReport? inFlight, int commitsPerSaga, int messagesPerSaga)
    {
        var concurrencies = options.Concurrencies;
        var openRate = reports.Select(r => r.Open?.Result.TargetRate ?? 0).FirstOrDefault(r => r > 0);
        output.WriteLine();
        output.WriteLine($"Closed loop: {string.Join(", ", concurrencies)} sagas in flight, {options.ClosedDuration.TotalSeconds:0} s each after {options.PhaseWarmup.TotalSeconds:0} s; " +
            $"open loop: {openRate:0} sagas/s for {options.OpenDuration.TotalSeconds:0} s, latency from the scheduled start. Per-saga costs from the closed loop at {concurrencies.Max()}" +
            (options.Quick ? " (--quick: commit counters read without waiting for PostgreSQL to publish them, approximate). " : " (commit counters read after 11 s idle, settled). ") +
            $"Limits replay {commitsPerSaga} commits / {messagesPerSaga} messages per saga.");
        output.WriteLine();
        output.WriteLine("| system | " + string.Join(" | ", concurrencies.Select(c => $"sagas/s @{c}")) +
            " | open p50 ms | open p95 ms | open p99 ms | open: machine busy % (stolen %) | coord. commits/saga | all commits/saga | msgs/saga published (routed) | CPU ms/saga system (orchestrator) | CPU ms/saga broker+db | peak RSS MiB |");
        output.WriteLine("|---|" + string.Concat(concurrencies.Select(_ => "---:|")) + "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var report in reports)
        {
            var label = Labels.GetValueOrDefault(report.Name, report.Name);
            if (report.Error is not null)
            {
                output.WriteLine($"| {label} | failed: {report.Error.Replace('|', '/')} |");
                continue;
            }

            var cells = concurrencies.Select(c => report.Closed.FirstOrDefault(p => p.Result.Concurrency == c) is { } p ? Fixed(p.Result.SagasPerSecond, 0) : "").ToList();
            var open = report.Open?.Result;
            var costs = report.CostPhase!.Costs;
            cells.Add(Fixed(open?.Percentile(50), 1));
            cells.Add(Fixed(open?.Percentile(95), 1));
            cells.Add(Fixed(open?.Percentile(99), 1));
            cells.Add(report.Open is { Costs: var openCosts } ? $"{Fixed(openCosts.MachineBusyPercent, 0)} ({Fixed(openCosts.StealPercent, 0)})" : "");
            cells.Add(Fixed(costs.CoordinatorCommits, 2));
            cells.Add(Fixed(costs.AllCommits, 2));
            cells.Add($"{Fixed(costs.MessagesReceived, 2)} ({Fixed(costs.MessagesRouted, 2)})");
            cells.Add(costs.CoordinatorCpuMs > 0 && report.Name.StartsWith("ours", StringComparison.Ordinal) ? $"{Fixed(costs.SystemCpuMs, 2)} ({Fixed(costs.CoordinatorCpuMs, 2)})" : Fixed(costs.SystemCpuMs, 2));
            cells.Add(Fixed(costs.InfraCpuMs, 2));
            cells.Add(report.PeakMemoryMiB > 0 ? Fixed(report.PeakMemoryMiB, 0) : "");
            output.WriteLine($"| {label} | {string.Join(" | ", cells)} |");
        }

        PrintPhases(output, reports);
        PrintSteal(output, reports);
        if (inFlight is not null)
        {
            output.WriteLine();
            output.WriteLine(inFlight.Error is null
                ? $"In flight: {inFlight.Sagas} sagas started with the participants stopped; {inFlight.Stored} stored by the coordinator in {inFlight.StartedIn.TotalSeconds:0.0} s; " +
                  $"coordinator VmHWM {inFlight.PeakMemoryMiB:0} MiB (idle before the starts: {inFlight.MemoryBeforeMiB:0} MiB)."
                : $"In flight: failed: {inFlight.Error}");
        }

        output.WriteLine();
        output.WriteLine("RESULT " + JsonSerializer.Serialize(Result(reports, inFlight, commitsPerSaga, messagesPerSaga)));
    }

    private static void PrintPhases(TextWriter output, IReadOnlyList<SystemReport> reports)
    {
        output.WriteLine();
        output.WriteLine("| system | phase | sagas/s | p50 ms | p95 ms | p99 ms | max ms | not completed | lost | machine busy % | stolen % | coord. commits/saga | msgs/saga | CPU ms/saga system (orchestrator) | CPU ms/saga broker / db (coordinator's db) / driver | switches/saga (machine) |");
        output.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var report in reports.Where(r => r.Error is null))
        {
            foreach (var phase in report.Closed.Append(report.Open).OfType<Phase>())
            {
                var r = phase.Result;
                var name = PhaseName(r);
                output.WriteLine($"| {report.Name} | {name} | {Fixed(r.SagasPerSecond, 0)} | {Fixed(r.Percentile(50), 1)} | {Fixed(r.Percentile(95), 1)} | {Fixed(r.Percentile(99), 1)} | {Fixed(r.Percentile(100), 1)} | {r.NotCompleted} | {r.Lost} | " +
                    $"{Fixed(phase.Costs.MachineBusyPercent, 0)} | {Fixed(phase.Costs.StealPercent, 0)} | {Fixed(phase.Costs.CoordinatorCommits, 2)} | {Fixed(phase.Costs.MessagesReceived, 2)} | " +
                    $"{Fixed(phase.Costs.SystemCpuMs, 2)} ({Fixed(phase.Costs.CoordinatorCpuMs, 2)}) | {Fixed(phase.Costs.BrokerCpuMs, 2)} / {Fixed(phase.Costs.DatabaseCpuMs, 2)}{(phase.Costs.CoordinatorDbCpuMs is { } coordinatorDb ? $" ({Fixed(coordinatorDb, 2)})" : "")} / {Fixed(phase.Costs.DriverCpuMs, 2)} | " +
                    $"{Fixed(phase.Costs.MachineSwitches, 0)} |");
            }
        }
    }

    /// <summary>
    /// Share of the CPU the hypervisor took, above which a phase is flagged: on a quiet host steal stays at a few
    /// percent; much more and the phase ran on fewer cores than the others, so ratios across it mean little.
    /// </summary>
    public const double StealWarningPercent = 5;

    private static void PrintSteal(TextWriter output, IReadOnlyList<SystemReport> reports)
    {
        var stolen = Phases(reports).Where(p => p.Phase.Costs.StealPercent >= StealWarningPercent).ToList();
        if (stolen.Count == 0)
        {
            return;
        }

        output.WriteLine();
        output.WriteLine($"WARNING: the hypervisor took {StealWarningPercent:0}% or more of the CPU in {stolen.Count} phase(s) (" +
            string.Join(", ", stolen.Select(p => $"{p.System} {PhaseName(p.Phase.Result)} {p.Phase.Costs.StealPercent:0}%")) +
            "): those phases ran on less CPU than the others, so their numbers and the ratios built on them are not comparable; run again when the host is quiet.");
    }

    private static IEnumerable<(string System, Phase Phase)> Phases(IReadOnlyList<SystemReport> reports) =>
        reports.Where(r => r.Error is null).SelectMany(r => r.Closed.Append(r.Open).OfType<Phase>().Select(p => (r.Name, p)));

    private static string PhaseName(Load.LoadResult r) => r.Phase == "closed" ? $"closed c={r.Concurrency}" : $"open {r.TargetRate:0}/s";

    private static Dictionary<string, object?> Result(IReadOnlyList<SystemReport> reports, InFlightReport? inFlight, int commitsPerSaga, int messagesPerSaga)
    {
        double Peak(string name) => reports.FirstOrDefault(r => r.Name == name)?.PeakSagasPerSecond ?? 0;
        double? Ratio(string peer) => Peak("ours") > 0 && Peak(peer) > 0 ? Math.Round(Peak("ours") / Peak(peer), 3) : null;
        var ours = reports.FirstOrDefault(r => r.Name == "ours" && r.Error is null);
        var p99 = ours?.Open?.Result.Percentile(99);
        var commits = ours?.CostPhase?.Costs.CoordinatorCommits;
        var messages = ours?.CostPhase?.Costs.MessagesReceived;
        return new Dictionary<string, object?>
        {
            ["ours_sagas_per_s"] = Math.Round(Peak("ours"), 1),
            ["ratio_vs_inmemory"] = Ratio("inmemory"),
            ["ratio_vs_courier"] = Ratio("courier"),
            ["ratio_vs_wolverine"] = Ratio("wolverine"),
            ["p99_ms_at_half_load"] = Round(p99, 1),
            ["machine_busy_pct_at_half_load"] = Round(ours?.Open?.Costs.MachineBusyPercent, 1),
            ["machine_steal_pct_at_half_load"] = Round(ours?.Open?.Costs.StealPercent, 1),
            ["machine_steal_pct_max"] = Round(Phases(reports).Select(p => (double?)p.Phase.Costs.StealPercent).Max(), 1),
            ["messages_per_saga_at_half_load"] = Round(ours?.Open?.Costs.MessagesReceived, 2),
            ["cpu_ms_per_saga_at_half_load"] = Round(ours?.Open?.Costs is { } open ? open.SystemCpuMs + open.InfraCpuMs : null, 2),
            ["commits_per_saga"] = Round(commits, 2),
            ["messages_per_saga"] = Round(messages, 2),
            ["cpu_ms_per_saga"] = Round(ours?.CostPhase?.Costs.SystemCpuMs, 2),
            ["coordinator_cpu_ms_per_saga"] = Round(ours?.CostPhase?.Costs.CoordinatorCpuMs, 2),
            ["coordinator_peak_mib"] = Round(ours?.PeakMemoryMiB, 0),
            ["in_flight_sagas"] = inFlight?.Sagas,
            ["in_flight_coordinator_peak_mib"] = Round(inFlight?.PeakMemoryMiB, 0),
            ["inmemory_sagas_per_s"] = Math.Round(Peak("inmemory"), 1),
            ["courier_sagas_per_s"] = Math.Round(Peak("courier"), 1),
            ["wolverine_sagas_per_s"] = Math.Round(Peak("wolverine"), 1),
            ["pgbench_sagas_per_s"] = Math.Round(Peak("pgbench"), 1),
            ["rabbitmq_sagas_per_s"] = Math.Round(Peak("rabbitmq"), 1),
            ["ours_samples_sagas_per_s"] = Math.Round(Peak(Systems.OursSystem.SamplesName), 1),
            ["limit_commits_per_saga"] = commitsPerSaga,
            ["limit_messages_per_saga"] = messagesPerSaga,
            ["failed"] = reports.Where(r => r.Error is not null).Select(r => r.Name).ToList(),
        };
    }

    private static double? Round(double? value, int digits) => value is { } v && double.IsFinite(v) ? Math.Round(v, digits) : null;

    private static string Fixed(double? value, int digits) =>
        value is { } v && double.IsFinite(v) ? v.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : "";
}
