namespace Sagas.Bench.Throughput.Load;

/// <summary>
/// One load phase: completions per second in the measured window and start-to-terminal latencies.
/// <paramref name="Finished"/> counts every saga that ended during the phase, warm-up included: the divisor of the per-saga costs.
/// </summary>
public sealed record LoadResult(string Phase, int Concurrency, double TargetRate, int Completed, int NotCompleted, int Lost, int Finished, TimeSpan Window, IReadOnlyList<double> LatenciesMs)
{
    public double SagasPerSecond => Window.TotalSeconds > 0 ? Completed / Window.TotalSeconds : 0;

    public double Percentile(double p)
    {
        if (LatenciesMs.Count == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p / 100.0 * LatenciesMs.Count) - 1;
        return LatenciesMs[Math.Clamp(rank, 0, LatenciesMs.Count - 1)];
    }
}
