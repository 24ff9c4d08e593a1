using System.Reflection;
using System.Threading.Channels;
using MassTransit;
using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// Replies to different commands share a broker message when they become ready while another is being sent: a lone
/// reply goes at once from its own consume, the ones that wait go together next from the first waiter's consume, and
/// every caller returns only once its own reply's send is over. A lone reply waits for company only while replies come
/// often. A failed shared send is tried again alone, and a send that is not confirmed in time holds no other reply.
/// </summary>
public sealed class ReplyCoalescerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Replies_ReadyDuringASend_GoTogetherInTheNextAndEachCallerWaitsForItsOwn()
    {
        var sends = new FakeSends();
        var coalescer = new ReplyCoalescer(sends.SendAsync, Wait * 6);
        var (a, b, c, d) = (Consume("a"), Consume("b"), Consume("c"), Consume("d"));

        // Nothing in flight: a goes at once, alone, from its own consume.
        var first = coalescer.SendAsync(a, Reply("a"));
        var held = await sends.NextAsync();
        Assert.Equal(["a"], held.Steps);
        Assert.Same(a, held.Context);

        // b, c and d are ready while a's send is in flight: they wait, unsent.
        var waiting = new[] { coalescer.SendAsync(b, Reply("b")), coalescer.SendAsync(c, Reply("c")), coalescer.SendAsync(d, Reply("d")) };
        await Task.Delay(50);
        Assert.False(first.IsCompleted);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));

        // a's send ends: a returns, and the three go as one message, from the consume of the first that waited.
        held.Release();
        await first.WaitAsync(Wait);
        var together = await sends.NextAsync();
        Assert.Equal(["b", "c", "d"], together.Steps);
        Assert.Same(b, together.Context);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));

        together.Release();
        await Task.WhenAll(waiting).WaitAsync(Wait);
        Assert.Equal(2, sends.Count);
        Assert.Equal(2, coalescer.Shared);

        // Nothing in flight again: the next reply goes at once, alone.
        await AssertGoesAloneAtOnceAsync(coalescer, sends, "e");
    }

    [Fact]
    public async Task Replies_ComingOften_ALoneReplyWaitsForOthersToJoinItsMessage()
    {
        var sends = new FakeSends();
        // A long wait, so that the test holds on a slow machine: the rate needs only a reply every 4 s to expect company.
        var coalescer = new ReplyCoalescer(sends.SendAsync, Wait * 6, batchWait: TimeSpan.FromSeconds(2));

        // The first reply finds no rate measured yet: it goes at once, alone.
        await AssertGoesAloneAtOnceAsync(coalescer, sends, "a");
        Assert.Equal(0, coalescer.Waits);

        // The next one comes right after, often enough for others to be expected within the wait: it waits, unsent...
        var b = coalescer.SendAsync(Consume("b"), Reply("b"));
        await Task.Delay(50);
        Assert.Equal(1, sends.Count);
        Assert.False(b.IsCompleted);

        // ...and a reply ready meanwhile rides in its message, sent from b's consume.
        var c = coalescer.SendAsync(Consume("c"), Reply("c"));
        var together = await sends.NextAsync();
        Assert.Equal(["b", "c"], together.Steps);
        together.Release();
        await Task.WhenAll(b, c).WaitAsync(Wait);
        Assert.Equal(1, coalescer.Waits);
        Assert.Equal(1, coalescer.Shared);
    }

    [Fact]
    public async Task Replies_ComingSeldom_ALoneReplyGoesAtOnce()
    {
        // One reply every 120 ms: about 8 a second, far too few for another to join a 5-ms wait.
        var sends = new FakeSends();
        var coalescer = new ReplyCoalescer(sends.SendAsync, Wait * 6, batchWait: TimeSpan.FromMilliseconds(5));

        foreach (var step in new[] { "a", "b", "c", "d" })
        {
            await AssertGoesAloneAtOnceAsync(coalescer, sends, step);
            await Task.Delay(120);
        }

        Assert.Equal(0, coalescer.Waits);
    }

    [Fact]
    public async Task Replies_SharedSendFails_EachOtherReplyIsTriedAloneAndThoseWaitingStillGo()
    {
        var sends = new FakeSends();
        var coalescer = new ReplyCoalescer(sends.SendAsync, Wait * 6);
        var (b, c) = (Consume("b"), Consume("c"));

        var first = coalescer.SendAsync(Consume("a"), Reply("a"));
        var held = await sends.NextAsync();
        var shared = coalescer.SendAsync(b, Reply("b"));
        var other = coalescer.SendAsync(c, Reply("c"));
        held.Release();
        await first.WaitAsync(Wait);

        var failing = await sends.NextAsync();
        Assert.Equal(["b", "c"], failing.Steps);
        var after = coalescer.SendAsync(Consume("d"), Reply("d"));
        failing.Fail(new InvalidOperationException("broker gone"));

        // b sent the failed message: its consume fails with the error, as a reply sent alone does.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => shared.WaitAsync(Wait));
        Assert.Equal("broker gone", error.Message);

        // c's reply only rode along: it is tried once more, alone, from c's own consume; d, which waited, still goes.
        var retries = new[] { await sends.NextAsync(), await sends.NextAsync() };
        var retry = Assert.Single(retries, s => s.Steps is ["c"]);
        Assert.Same(c, retry.Context);
        Assert.Single(retries, s => s.Steps is ["d"]);
        foreach (var send in retries)
        {
            send.Release();
        }

        await Task.WhenAll(other, after).WaitAsync(Wait);
    }

    [Fact]
    public async Task Replies_SendThrowsBeforeItBegins_ThatCallerFailsAndLaterRepliesStillGo()
    {
        var sends = new FakeSends();
        var calls = 0;
        var coalescer = new ReplyCoalescer(
            (context, replies) => Interlocked.Increment(ref calls) == 2 ? throw new InvalidOperationException("no channel") : sends.SendAsync(context, replies),
            Wait * 6);

        var first = coalescer.SendAsync(Consume("a"), Reply("a"));
        var held = await sends.NextAsync();
        var failing = coalescer.SendAsync(Consume("b"), Reply("b"));
        held.Release();
        await first.WaitAsync(Wait);

        // b's turn: its send throws at once; b's consume fails with it, and the turn is not lost with it.
        Assert.Equal("no channel", (await Assert.ThrowsAsync<InvalidOperationException>(() => failing.WaitAsync(Wait))).Message);
        await AssertGoesAloneAtOnceAsync(coalescer, sends, "c");
    }

    [Fact]
    public async Task Replies_MoreThanABatchWaiting_GoInMessagesOfAtMostMaxBatch()
    {
        var sends = new FakeSends();
        var coalescer = new ReplyCoalescer(sends.SendAsync, Wait * 6);
        var first = coalescer.SendAsync(Consume("first"), Reply("first"));
        var held = await sends.NextAsync();
        var waiting = Enumerable.Range(0, ReplyCoalescer.MaxBatch + 5).Select(i => coalescer.SendAsync(Consume($"w{i}"), Reply($"w{i}"))).ToList();
        held.Release();

        var full = await sends.NextAsync();
        Assert.Equal(ReplyCoalescer.MaxBatch, full.Steps.Length);
        Assert.Equal("w0", full.Steps[0]);
        full.Release();
        var rest = await sends.NextAsync();
        Assert.Equal(Enumerable.Range(ReplyCoalescer.MaxBatch, 5).Select(i => $"w{i}"), rest.Steps);
        rest.Release();

        await Task.WhenAll(waiting.Append(first)).WaitAsync(Wait);
        Assert.Equal(3, sends.Count);
    }

    [Fact]
    public async Task Replies_SendNeverConfirmed_TheNextGoAfterHandOnAndThoseThatRodeAlongGoAgainAlone()
    {
        var sends = new FakeSends();
        var coalescer = new ReplyCoalescer(sends.SendAsync, TimeSpan.FromMilliseconds(200));
        var (b, c, d) = (Consume("b"), Consume("c"), Consume("d"));

        // a's send hangs (a broker outage, say): b and c, waiting behind it, go once it is late, from b's consume.
        var first = coalescer.SendAsync(Consume("a"), Reply("a"));
        var hung = await sends.NextAsync();
        var shared = coalescer.SendAsync(b, Reply("b"));
        var riding = coalescer.SendAsync(c, Reply("c"));
        var together = await sends.NextAsync();
        Assert.Equal(["b", "c"], together.Steps);
        Assert.Same(b, together.Context);
        Assert.False(first.IsCompleted);

        // That one hangs too, with d waiting: once it is late, d goes and c is sent again alone from its own consume.
        var after = coalescer.SendAsync(d, Reply("d"));
        var next = new[] { await sends.NextAsync(), await sends.NextAsync() };
        Assert.Same(c, Assert.Single(next, s => s.Steps is ["c"]).Context);
        Assert.Same(d, Assert.Single(next, s => s.Steps is ["d"]).Context);
        foreach (var send in next)
        {
            send.Release();
        }

        await Task.WhenAll(riding, after).WaitAsync(Wait);

        // The callers whose own messages hang keep waiting for them, as a reply sent alone would, and nothing was shared.
        Assert.False(first.IsCompleted);
        Assert.False(shared.IsCompleted);
        hung.Release();
        together.Release();
        await Task.WhenAll(first, shared).WaitAsync(Wait);
        Assert.Equal(4, sends.Count);
        Assert.Equal(0, coalescer.Shared);
    }

    /// <summary>With nothing in flight, a reply is sent at once, alone, from its own consume, and its caller returns.</summary>
    private static async Task AssertGoesAloneAtOnceAsync(ReplyCoalescer coalescer, FakeSends sends, string step)
    {
        var consume = Consume(step);
        var sending = coalescer.SendAsync(consume, Reply(step));
        var alone = await sends.NextAsync();
        Assert.Equal([step], alone.Steps);
        Assert.Same(consume, alone.Context);
        alone.Release();
        await sending.WaitAsync(Wait);
    }

    private static PendingReply Reply(string step) =>
        new(new StepSucceeded(Guid.NewGuid(), step, 1), Guid.NewGuid(), Guid.NewGuid());

    /// <summary>A stand-in consume, only ever compared by reference: every call on it fails the test.</summary>
    private static ConsumeContext Consume(string name)
    {
        var context = DispatchProxy.Create<ConsumeContext, NoCalls>();
        ((NoCalls)(object)context).Name = name;
        return context;
    }

    public class NoCalls : DispatchProxy
    {
        public string Name { get; set; } = "";

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            throw new InvalidOperationException($"consume {Name}: {targetMethod?.Name} was called; the coalescer only passes the context on");
    }

    /// <summary>Sends that end when the test says so.</summary>
    private sealed class FakeSends
    {
        private readonly Channel<Send> _started = Channel.CreateUnbounded<Send>();
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Task SendAsync(ConsumeContext context, List<PendingReply> replies)
        {
            Interlocked.Increment(ref _count);
            var send = new Send(context, [.. replies.Select(r => ((StepSucceeded)r.Reply).Step)]);
            _started.Writer.TryWrite(send);
            return send.Done.Task;
        }

        public async Task<Send> NextAsync() => await _started.Reader.ReadAsync().AsTask().WaitAsync(Wait);
    }

    private sealed class Send(ConsumeContext context, string[] steps)
    {
        public ConsumeContext Context { get; } = context;

        public string[] Steps { get; } = steps;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => Done.SetResult();

        public void Fail(Exception error) => Done.SetException(error);
    }
}
