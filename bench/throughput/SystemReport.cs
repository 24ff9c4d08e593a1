using Sagas.Bench.Throughput.Load;

namespace Sagas.Bench.Throughput;

public sealed record Phase(LoadResult Result, PhaseCosts Costs);

/// <summary>Everything measured for one system: closed-loop phases, the open-loop phase, the orchestrator's peak memory.</summary>
public sealed record SystemReport(string Name, IReadOnlyList<Phase> Closed, Phase? Open, double PeakMemoryMiB, string? Error = null)
{
    public static SystemReport Failed(string name, string error) => new(name, [], null, 0, error);

    public Phase? Peak => Closed.Count == 0 ? null : Closed.MaxBy(p => p.Result.SagasPerSecond);

    public double PeakSagasPerSecond => Peak?.Result.SagasPerSecond ?? 0;

    /// <summary>The phase the per-saga costs come from: the highest concurrency (its counters settled in a full run).</summary>
    public Phase? CostPhase => Closed.Count == 0 ? null : Closed.MaxBy(p => p.Result.Concurrency);
}

/// <summary>The in-flight memory test: sagas started with the participants stopped, the coordinator's VmHWM once all are stored.</summary>
public sealed record InFlightReport(int Sagas, int Stored, TimeSpan StartedIn, double PeakMemoryMiB, double MemoryBeforeMiB, string? Error = null);
