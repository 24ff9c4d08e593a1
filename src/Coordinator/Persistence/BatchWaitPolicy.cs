using System.Diagnostics;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Decides, for one group-commit executor, whether a batch that is not full waits <see cref="DatabaseOptions.BatchWait"/>
/// for more transitions to join it. It waits only when the transitions expected to join during the wait (a smoothed
/// arrival rate times the wait) are at least half a one and at least half as many as the batch already holds. At a
/// low rate no message waits for company that will not come; at a high rate the batches are already large, and a
/// wait would only delay them. After a pause the estimate starts again from what arrives next.
/// </summary>
internal sealed class BatchWaitPolicy(TimeSpan wait)
{
    /// <summary>The share of the newest measurement in the smoothed rate.</summary>
    private const double Weight = 0.25;

    /// <summary>A gap this long replaces the estimate instead of blending into it.</summary>
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(100);

    private readonly double _waitSeconds = wait.TotalSeconds;
    private long _since;
    private int _arrived;
    private double _rate;

    /// <summary>Transitions per second, as last estimated.</summary>
    public double Rate => _rate;

    /// <summary>
    /// Called with the transitions just taken for a new batch (those that arrived since the last call, with the ones
    /// given to <see cref="Joined"/>) and the current <see cref="Stopwatch"/> timestamp.
    /// </summary>
    public bool ShouldWait(int taken, long now)
    {
        _arrived += taken;
        if (_since != 0)
        {
            var elapsed = Stopwatch.GetElapsedTime(_since, now);
            var measured = _arrived / Math.Max(elapsed.TotalSeconds, 1e-6);
            _rate = _rate == 0 || elapsed >= Pause ? measured : _rate + (Weight * (measured - _rate));
        }

        _since = now;
        _arrived = 0;
        return _waitSeconds > 0 && 2 * _rate * _waitSeconds >= Math.Max(1, taken);
    }

    /// <summary>The transitions that joined during a wait: they count towards the next measurement.</summary>
    public void Joined(int count) => _arrived += count;
}
