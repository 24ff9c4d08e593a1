using Sagas.Bench.Throughput.Infra;
using Sagas.Bench.Throughput.Load;

namespace Sagas.Bench.Throughput;

/// <summary>Costs of one load phase, divided by the sagas that ended in it.</summary>
public sealed record PhaseCosts(double CoordinatorCommits, double AllCommits, double MessagesReceived, double MessagesRouted, double SystemCpuMs, double InfraCpuMs);

/// <summary>Snapshots before and after a phase: commit counters, broker counters, CPU of the system and of RabbitMQ + PostgreSQL.</summary>
public sealed class Measure(Postgres postgres)
{
    public async Task<(LoadResult Result, PhaseCosts Costs)> RunAsync(
        IReadOnlyList<string> coordinatorDatabases, IReadOnlyList<string> allDatabases, Func<IReadOnlyList<int>> systemPids, Func<Task<LoadResult>> phase)
    {
        var coordinator0 = await postgres.SettledCommitsAsync(coordinatorDatabases);
        var all0 = await postgres.CommitsAsync(allDatabases);
        var broker0 = await RabbitMqAdmin.CountersAsync();
        var infra0 = InfraCpu();
        var system0 = CpuOf(systemPids());

        var result = await phase();

        var system1 = CpuOf(systemPids());
        var infra1 = InfraCpu();
        var broker1 = await RabbitMqAdmin.CountersAsync();
        var coordinator1 = await postgres.SettledCommitsAsync(coordinatorDatabases);
        var all1 = await postgres.SettledCommitsAsync(allDatabases);

        var sagas = Math.Max(1, result.Finished);
        var broker = broker1 - broker0;
        var costs = new PhaseCosts(
            (double)(coordinator1 - coordinator0) / sagas,
            (double)(all1 - all0) / sagas,
            (double)broker.Received / sagas,
            (double)broker.Routed / sagas,
            Delta(system0, system1) * 1000 / sagas,
            Delta(infra0, infra1) * 1000 / sagas);
        return (result, costs);
    }

    /// <summary>RabbitMQ (beam.smp) and every PostgreSQL process (backends of pooled connections live through a phase).</summary>
    private static Dictionary<int, double> InfraCpu() =>
        CpuOf([.. ProcessStats.FindByName("beam.smp"), .. ProcessStats.FindByName("postgres")]);

    private static Dictionary<int, double> CpuOf(IEnumerable<int> pids) => pids.Distinct().ToDictionary(p => p, ProcessStats.CpuSeconds);

    // A process that appeared during the phase counts from zero; one that ended is lost (its last reading is gone).
    private static double Delta(Dictionary<int, double> before, Dictionary<int, double> after) =>
        after.Sum(a => a.Value - before.GetValueOrDefault(a.Key));
}
