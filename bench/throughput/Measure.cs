using Sagas.Bench.Throughput.Infra;
using Sagas.Bench.Throughput.Load;

namespace Sagas.Bench.Throughput;

/// <summary>Costs of one load phase, divided by the sagas that ended in it.</summary>
/// <remarks>
/// <see cref="MachineBusyPercent"/> is how busy all cores were over the phase (its warm-up included), not per saga;
/// <see cref="StealPercent"/> the share of the cores' time the hypervisor gave to another machine while this one had
/// work. On a shared VM a phase with much steal ran on less CPU than the others: its numbers are not comparable.
/// <see cref="InfraCpuMs"/> is RabbitMQ's and PostgreSQL's together, <see cref="BrokerCpuMs"/> RabbitMQ's share of it;
/// <see cref="CoordinatorDbCpuMs"/> the share of the PostgreSQL backends connected to the orchestrator's own database(s)
/// at the phase's end (the rest is the participants' backends and PostgreSQL's own processes, such as the WAL writer);
/// <see cref="DriverCpuMs"/> is the load driver's (this process); <see cref="MachineSwitches"/> counts the context
/// switches of every process on the machine, each a wake-up or a hand-over of a core.
/// </remarks>
public sealed record PhaseCosts(
    double CoordinatorCommits, double AllCommits, double MessagesReceived, double MessagesRouted, double SystemCpuMs, double CoordinatorCpuMs, double InfraCpuMs,
    double MachineBusyPercent, double StealPercent, double BrokerCpuMs = 0, double DriverCpuMs = 0, double MachineSwitches = 0,
    double? CoordinatorDbCpuMs = null)
{
    public double DatabaseCpuMs => InfraCpuMs - BrokerCpuMs;
}

/// <summary>Snapshots before and after a phase: commit counters, broker counters, CPU of the system and of RabbitMQ + PostgreSQL.</summary>
public sealed class Measure(Postgres postgres)
{
    /// <summary>
    /// PostgreSQL publishes a busy backend's counters about once a second, but an idle one's only after 10 s
    /// (PGSTAT_IDLE_INTERVAL): a settled reading waits that long with the system idle.
    /// </summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(11);

    /// <summary>
    /// Runs a phase between two snapshots. With <paramref name="settle"/> the commit counters are read after
    /// <see cref="SettleTime"/> of idleness on both sides (exact); without, right away (approximate: the
    /// unpublished tail of the phase before and of this one roughly cancel out).
    /// </summary>
    public async Task<(LoadResult Result, PhaseCosts Costs)> RunAsync(
        IReadOnlyList<string> coordinatorDatabases, IReadOnlyList<string> allDatabases, Func<IReadOnlyList<int>> systemPids, int coordinatorPid,
        bool settle, Func<Task<LoadResult>> phase)
    {
        if (settle)
        {
            await Task.Delay(SettleTime);
        }

        var coordinator0 = await postgres.CommitsAsync(coordinatorDatabases);
        var all0 = await postgres.CommitsAsync(allDatabases);
        var counters0 = await RabbitMqAdmin.CountersAsync();
        var infra0 = InfraCpu();
        var driver0 = ProcessStats.CpuSeconds(Environment.ProcessId);
        var switches0 = ProcessStats.MachineContextSwitches();
        var system0 = CpuOf(systemPids());
        var coordinatorCpu0 = ProcessStats.CpuSeconds(coordinatorPid);
        var machine0 = ProcessStats.MachineTicks();

        var result = await phase();

        var machine1 = ProcessStats.MachineTicks();
        var system1 = CpuOf(systemPids());
        var coordinatorCpu1 = ProcessStats.CpuSeconds(coordinatorPid);
        var infra1 = InfraCpu();
        var backends = await postgres.BackendDatabasesAsync();
        var driver1 = ProcessStats.CpuSeconds(Environment.ProcessId);
        var switches1 = ProcessStats.MachineContextSwitches();
        var counters1 = await RabbitMqAdmin.CountersAsync();
        if (settle)
        {
            await Task.Delay(SettleTime);
        }

        var coordinator1 = await postgres.CommitsAsync(coordinatorDatabases);
        var all1 = await postgres.CommitsAsync(allDatabases);

        // Broker and orchestrator's database: the same two readings, split by process.
        var brokerPids = ProcessStats.FindByName("beam.smp").ToHashSet();
        var coordinatorBackends = backends.Where(b => coordinatorDatabases.Contains(b.Value)).Select(b => b.Key).ToHashSet();
        var brokerCpu = Delta(Only(infra0, brokerPids), Only(infra1, brokerPids));
        double? coordinatorDb = coordinatorDatabases.Count == 0 ? null : Delta(Only(infra0, coordinatorBackends), Only(infra1, coordinatorBackends));

        var sagas = Math.Max(1, result.Finished);
        var broker = counters1 - counters0;
        var costs = new PhaseCosts(
            (double)(coordinator1 - coordinator0) / sagas,
            (double)(all1 - all0) / sagas,
            (double)broker.Received / sagas,
            (double)broker.Routed / sagas,
            Delta(system0, system1) * 1000 / sagas,
            coordinatorPid > 0 ? (coordinatorCpu1 - coordinatorCpu0) * 1000 / sagas : 0,
            Delta(infra0, infra1) * 1000 / sagas,
            100.0 * (machine1.Busy - machine0.Busy) / Math.Max(1, machine1.Total - machine0.Total),
            100.0 * (machine1.Steal - machine0.Steal) / Math.Max(1, machine1.Total - machine0.Total),
            brokerCpu * 1000 / sagas,
            (driver1 - driver0) * 1000 / sagas,
            (double)(switches1 - switches0) / sagas,
            coordinatorDb * 1000 / sagas);
        return (result, costs);
    }

    /// <summary>RabbitMQ (beam.smp) and every PostgreSQL process (backends of pooled connections live through a phase).</summary>
    private static Dictionary<int, double> InfraCpu() =>
        CpuOf([.. ProcessStats.FindByName("beam.smp"), .. ProcessStats.FindByName("postgres")]);

    private static Dictionary<int, double> Only(Dictionary<int, double> cpu, HashSet<int> pids) =>
        cpu.Where(p => pids.Contains(p.Key)).ToDictionary();

    private static Dictionary<int, double> CpuOf(IEnumerable<int> pids) => pids.Distinct().ToDictionary(p => p, ProcessStats.CpuSeconds);

    // A process that appeared during the phase counts from zero; one that ended is lost (its last reading is gone).
    private static double Delta(Dictionary<int, double> before, Dictionary<int, double> after) =>
        after.Sum(a => a.Value - before.GetValueOrDefault(a.Key));
}
