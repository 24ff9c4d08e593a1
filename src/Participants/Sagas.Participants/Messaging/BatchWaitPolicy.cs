using System.Diagnostics;

namespace Sagas.Participants;

/// <summary>
/// Decides whether a batch that is not full waits a short while for more items to join it: the coordinator's
/// group-commit executor (transitions, <c>Sagas:Database:BatchWait</c>) and a participant host's reply coalescer
/// (replies, <see cref="ParticipantReplyOptions.BatchWait"/>) each keep one. It waits only when the items expected to
/// join during the wait are at least half a one and at least half as many as the batch already holds. At a low rate
/// no message waits for company that will not come; at a high rate the batches are already large, and a wait would
/// only delay them. After a pause the estimate starts again from what arrives next.
/// <para>
/// Two estimates must both agree: a smoothed arrival rate times the wait, and what the last waits actually gathered.
/// The rate alone is wrong when arrivals depend on the batches: with a few sagas in flight, each next message comes
/// only after the batch that holds the last one is done, so a wait gathers nothing however high the rate. Once waits
/// gather too little, every <see cref="ProbeEvery"/>th batch the rate would let wait still waits, to measure again.
/// </para>
/// <para>Not thread-safe: its owner calls it for one batch at a time.</para>
/// </summary>
internal sealed class BatchWaitPolicy(TimeSpan wait)
{
    /// <summary>The share of the newest measurement in the smoothed rate and in the smoothed yield of a wait.</summary>
    private const double Weight = 0.25;

    /// <summary>While waits gather too little, one batch in this many waits anyway, so a change is noticed.</summary>
    internal const int ProbeEvery = 16;

    /// <summary>A gap this long replaces the estimate instead of blending into it.</summary>
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(100);

    private readonly double _waitSeconds = wait.TotalSeconds;
    private long _since;
    private int _arrived;
    private double _rate;
    private double _yield = double.NaN;
    private int _skipped;

    /// <summary>Items per second, as last estimated.</summary>
    public double Rate => _rate;

    /// <summary>Items that joined a wait, smoothed over the last waits; NaN before the first wait (or a pause).</summary>
    public double Yield => _yield;

    /// <summary>
    /// Called with the items just taken for a new batch that may wait (those that arrived since the last call, with the
    /// ones given to <see cref="Joined"/>) and the current <see cref="Stopwatch"/> timestamp.
    /// </summary>
    public bool ShouldWait(int taken, long now)
    {
        Observe(taken, now);
        var enough = Math.Max(1, taken);
        if (_waitSeconds <= 0 || 2 * _rate * _waitSeconds < enough)
        {
            return false;
        }

        if (double.IsNaN(_yield) || 2 * _yield >= enough || ++_skipped >= ProbeEvery)
        {
            _skipped = 0;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Counts items taken for a batch that cannot wait (a reply coalescer's next turn, whose replies already waited for
    /// the send before it) towards the rate, without a decision.
    /// </summary>
    public void Observe(int taken, long now)
    {
        _arrived += taken;
        if (_since != 0)
        {
            var elapsed = Stopwatch.GetElapsedTime(_since, now);
            var measured = _arrived / Math.Max(elapsed.TotalSeconds, 1e-6);
            if (_rate == 0 || elapsed >= Pause)
            {
                _rate = measured;
                _yield = double.NaN;
            }
            else
            {
                _rate += Weight * (measured - _rate);
            }
        }

        _since = now;
        _arrived = 0;
    }

    /// <summary>
    /// The items that joined a wait: they count towards the next rate measurement and into the yield of a wait.
    /// </summary>
    public void Joined(int count)
    {
        _arrived += count;
        _yield = double.IsNaN(_yield) ? count : _yield + (Weight * (count - _yield));
    }
}
