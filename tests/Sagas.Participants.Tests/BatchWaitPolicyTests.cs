using System.Diagnostics;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>When a batch that is not full (a group commit, a reply message) waits for company: only while items arrive often enough.</summary>
public class BatchWaitPolicyTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromMilliseconds(1);

    [Fact]
    public void ShouldWait_FirstBatch_DoesNotWait()
    {
        var policy = new BatchWaitPolicy(Wait);

        Assert.False(policy.ShouldWait(1, At(0)));
    }

    [Fact]
    public void ShouldWait_OneTransitionEveryHalfMillisecond_Waits()
    {
        var policy = new BatchWaitPolicy(Wait);

        var decisions = Stream(policy, every: TimeSpan.FromMicroseconds(500), batches: 20);

        Assert.All(decisions.Skip(1), Assert.True);
        Assert.InRange(policy.Rate, 1_900, 2_100);
    }

    [Fact]
    public void ShouldWait_BatchAlreadyLargerThanTwiceWhatWouldJoin_DoesNotWait()
    {
        // Four transitions every 2 ms: 2,000 per second, so about 2 would join a 1-ms wait.
        var policy = new BatchWaitPolicy(Wait);
        for (var i = 0; i < 10; i++)
        {
            policy.ShouldWait(4, At(i * 2_000));
        }

        Assert.True(policy.ShouldWait(4, At(20_000)));
        Assert.False(policy.ShouldWait(5, At(22_500)));
        Assert.False(policy.ShouldWait(20, At(32_500)));
    }

    [Fact]
    public void ShouldWait_OneTransitionEveryTenMilliseconds_NeverWaits()
    {
        var policy = new BatchWaitPolicy(Wait);

        var decisions = Stream(policy, every: TimeSpan.FromMilliseconds(10), batches: 20);

        Assert.All(decisions, Assert.False);
    }

    [Fact]
    public void ShouldWait_WaitTurnedOff_NeverWaits()
    {
        var policy = new BatchWaitPolicy(TimeSpan.Zero);

        var decisions = Stream(policy, every: TimeSpan.FromMicroseconds(100), batches: 20);

        Assert.All(decisions, Assert.False);
    }

    [Fact]
    public void ShouldWait_AfterAPause_StopsWaitingAtOnce()
    {
        var policy = new BatchWaitPolicy(Wait);
        Stream(policy, every: TimeSpan.FromMicroseconds(500), batches: 20);

        // A lone message a second later: the estimate starts again from it.
        Assert.False(policy.ShouldWait(1, At(10_000 + 1_000_000)));
    }

    [Fact]
    public void ShouldWait_TransitionsThatJoinedAWait_CountTowardsTheRate()
    {
        var policy = new BatchWaitPolicy(Wait);
        Assert.False(policy.ShouldWait(1, At(0)));

        // One transition taken 4 ms later: 250 per second, too few to wait for.
        Assert.False(policy.ShouldWait(1, At(4_000)));

        // The same, with three more that joined a wait in between: 1,000 per second on average.
        var joined = new BatchWaitPolicy(Wait);
        joined.ShouldWait(1, At(0));
        joined.Joined(3);
        Assert.True(joined.ShouldWait(1, At(4_000)));
    }

    [Fact]
    public void ShouldWait_WaitsGatherNothing_OnlyOneBatchInProbeEveryWaits()
    {
        // A few sagas in flight: messages come often, but each next one only after the batch holding the last one
        // commits, so a wait never gathers anyone.
        var policy = new BatchWaitPolicy(Wait);
        var waits = new List<int>();
        for (var i = 0; i < 1 + (3 * BatchWaitPolicy.ProbeEvery); i++)
        {
            if (policy.ShouldWait(1, At(i * 500)))
            {
                waits.Add(i);
                policy.Joined(0);
            }
        }

        Assert.Equal([1, 1 + BatchWaitPolicy.ProbeEvery, 1 + (2 * BatchWaitPolicy.ProbeEvery)], waits);
        Assert.Equal(0, policy.Yield);
    }

    [Fact]
    public void ShouldWait_ProbesGatherAgain_WaitingResumes()
    {
        var policy = new BatchWaitPolicy(Wait);
        var t = 0L;
        bool Next() => policy.ShouldWait(1, At(t += 500));
        Assert.False(Next());
        Assert.True(Next());
        policy.Joined(0);

        // Until the probe, the empty wait keeps the batches from waiting; the probe gathers three, and from then on
        // every batch waits again.
        var skipped = 0;
        while (!Next())
        {
            skipped++;
        }

        Assert.Equal(BatchWaitPolicy.ProbeEvery - 1, skipped);
        policy.Joined(3);
        Assert.True(Next());
        policy.Joined(2);
        Assert.True(Next());
    }

    [Fact]
    public void ShouldWait_AfterAPause_ForgetsWhatWaitsGathered()
    {
        var policy = new BatchWaitPolicy(Wait);
        Assert.False(policy.ShouldWait(1, At(0)));
        Assert.True(policy.ShouldWait(1, At(500)));
        policy.Joined(0);
        Assert.False(policy.ShouldWait(1, At(1_000)));

        // A second later a burst: the first batch starts the rate again, the next one waits to see what a wait gathers.
        Assert.False(policy.ShouldWait(1, At(1_001_000)));
        Assert.True(double.IsNaN(policy.Yield));
        Assert.True(policy.ShouldWait(1, At(1_001_250)));
    }

    [Fact]
    public void Observe_ItemsTakenWithoutADecision_CountTowardsTheRate()
    {
        // A reply coalescer's handed-on turn: three replies taken 2 ms after the last decision, with no wait possible.
        var policy = new BatchWaitPolicy(Wait);
        Assert.False(policy.ShouldWait(1, At(0)));

        policy.Observe(3, At(2_000));

        Assert.InRange(policy.Rate, 1_400, 1_600);
        Assert.True(policy.ShouldWait(1, At(2_500)));
    }

    /// <summary>One transition per batch, <paramref name="every"/> apart; the decisions in order.</summary>
    private static List<bool> Stream(BatchWaitPolicy policy, TimeSpan every, int batches) =>
        Enumerable.Range(0, batches).Select(i => policy.ShouldWait(1, At((long)(i * every.TotalMicroseconds)))).ToList();

    /// <summary>A <see cref="Stopwatch"/> timestamp <paramref name="microseconds"/> after an arbitrary start.</summary>
    private static long At(long microseconds) => 1_000_000_000 + (microseconds * Stopwatch.Frequency / 1_000_000);
}
