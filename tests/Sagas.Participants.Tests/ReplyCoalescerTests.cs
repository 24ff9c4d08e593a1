using MassTransit;
using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// Replies to different commands share a broker message when they become ready while another is being sent: a lone
/// reply goes at once, the ones that wait go together next, and every caller returns only once its own reply's send
/// is over (or fails with it).
/// </summary>
public sealed class ReplyCoalescerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Replies_ReadyDuringASend_GoTogetherInTheNextAndEachCallerWaitsForItsOwn()
    {
        var sends = new FakeSends();
        var coalescer = new ReplyCoalescer(sends.SendAsync);
        var (a, b, c, d) = (Reply("a"), Reply("b"), Reply("c"), Reply("d"));

        // Nothing in flight: a goes at once, alone.
        var first = coalescer.SendAsync(null!, a);
        var held = await sends.NextAsync();
        Assert.Equal(["a"], held.Steps);

        // b, c and d are ready while a's send is in flight: they wait, unsent.
        var waiting = new[] { coalescer.SendAsync(null!, b), coalescer.SendAsync(null!, c), coalescer.SendAsync(null!, d) };
        await Task.Delay(50);
        Assert.False(first.IsCompleted);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));

        // a's send ends: a returns, and the three go as one message.
        held.Release();
        await first.WaitAsync(Wait);
        var together = await sends.NextAsync();
        Assert.Equal(["b", "c", "d"], together.Steps);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));

        together.Release();
        await Task.WhenAll(waiting).WaitAsync(Wait);
        Assert.Equal(2, sends.Count);
        Assert.Equal(2, coalescer.Shared);

        // Nothing in flight again: the next reply goes at once, alone.
        var later = coalescer.SendAsync(null!, Reply("e"));
        var alone = await sends.NextAsync();
        Assert.Equal(["e"], alone.Steps);
        alone.Release();
        await later.WaitAsync(Wait);
    }

    [Fact]
    public async Task Replies_SendFails_EveryReplyInItFailsAndThoseWaitingStillGo()
    {
        var sends = new FakeSends();
        var coalescer = new ReplyCoalescer(sends.SendAsync);

        var first = coalescer.SendAsync(null!, Reply("a"));
        var held = await sends.NextAsync();
        var shared = new[] { coalescer.SendAsync(null!, Reply("b")), coalescer.SendAsync(null!, Reply("c")) };
        held.Release();
        await first.WaitAsync(Wait);

        var failing = await sends.NextAsync();
        Assert.Equal(["b", "c"], failing.Steps);
        var after = coalescer.SendAsync(null!, Reply("d"));
        failing.Fail(new InvalidOperationException("broker gone"));

        // Each command whose reply was in the failed message fails its consume (and is delivered again).
        foreach (var task in shared)
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => task.WaitAsync(Wait));
            Assert.Equal("broker gone", error.Message);
        }

        // The reply that waited meanwhile is not stranded: it goes next.
        var next = await sends.NextAsync();
        Assert.Equal(["d"], next.Steps);
        next.Release();
        await after.WaitAsync(Wait);
    }

    private static PendingReply Reply(string step) =>
        new(new StepSucceeded(Guid.NewGuid(), step, 1), Guid.NewGuid(), Guid.NewGuid());

    /// <summary>Sends that end when the test says so.</summary>
    private sealed class FakeSends
    {
        private readonly System.Threading.Channels.Channel<Send> _started = System.Threading.Channels.Channel.CreateUnbounded<Send>();
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Task SendAsync(ConsumeContext context, List<PendingReply> replies)
        {
            Interlocked.Increment(ref _count);
            var send = new Send([.. replies.Select(r => ((StepSucceeded)r.Reply).Step)]);
            _started.Writer.TryWrite(send);
            return send.Done.Task;
        }

        public async Task<Send> NextAsync() => await _started.Reader.ReadAsync().AsTask().WaitAsync(Wait);
    }

    private sealed class Send(string[] steps)
    {
        public string[] Steps { get; } = steps;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => Done.SetResult();

        public void Fail(Exception error) => Done.SetException(error);
    }
}
