using System.Diagnostics;
using System.Runtime.ExceptionServices;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Sagas.Participants;

/// <summary>
/// The replies of a participant host (one per service container), shared across the commands being handled: a reply
/// with no other send in flight goes at once, as itself; replies that become ready while a send is in flight wait for
/// it and then go together, as one <see cref="Contracts.StepReplyBatch"/> of at most <see cref="MaxBatch"/> (one alone
/// still travels as itself). At moderate load commands arrive one by one, so this is where their replies can still
/// share a broker message: each message costs the broker, this process and the coordinator a wake-up and a pipeline run.
/// <para>
/// When replies come often enough that others should be ready within <see cref="ParticipantReplyOptions.BatchWait"/>,
/// and recent waits did gather some (<see cref="BatchWaitPolicy"/>), a reply that finds no send in flight first waits
/// that long, so that they go with it.
/// </para>
/// <para>
/// Every caller returns once the message carrying its reply is sent (confirmed), or throws when it could not be sent,
/// so a command is acknowledged only after its reply left, as when it sends alone. The caller that finds no send in
/// flight sends what is waiting, its own reply first, from its own consume, then hands the next turn to the first
/// caller still waiting, which sends from its own: no consume is kept sending others' replies after its own has gone,
/// and a reply that travels alone is always sent from the consume of the command it answers. A reply whose shared
/// message failed is tried once more alone, from its own consume, so one caller's failure (its cancellation, say) does
/// not fail the others' commands. Replies are encoded (encryption, claim check) before they wait, in their own consume.
/// </para>
/// <para>
/// A send is given <see cref="ParticipantReplyOptions.HandOnAfter"/> to be confirmed. One that takes longer (across a
/// broker outage, say) no longer holds the host's other replies: the turn passes on to those that came since, the
/// replies that rode along in the late message are each tried once more alone from their own consume (the
/// coordinator's inbox drops a copy that arrives twice), and only the caller that sent it keeps waiting for it, as a
/// reply sent alone would.
/// </para>
/// </summary>
/// <remarks>
/// Registered by <c>AddSagaParticipant</c>. One instance is shared by every consume
/// (<see cref="ParticipantReplyOptions.BatchAcrossCommands"/>); with that turned off, a command batch's consume has one
/// of its own for its commands' replies.
/// </remarks>
public sealed class ReplyCoalescer
{
    /// <summary>Replies in one message at most; more wait for the next turn.</summary>
    public const int MaxBatch = 32;

    private readonly Func<ConsumeContext, List<PendingReply>, Task> _send;
    private readonly TimeSpan _handOnAfter;
    private readonly TimeSpan _batchWait;
    private readonly BatchWaitPolicy _policy;
    private readonly Lock _gate = new();
    private List<Waiting> _waiting = [];
    private bool _sending;
    private long _shared;
    private long _waits;

    /// <summary>Replies that arrived since the policy last counted them.</summary>
    private int _arrivals;

    public ReplyCoalescer(IOptions<ParticipantReplyOptions> options)
        : this((context, replies) => ReplySender.SendAsync(context, replies, options.Value), options.Value.HandOnAfter, options.Value.BatchWait)
    {
    }

    /// <summary>With the send of what is waiting given (tests).</summary>
    internal ReplyCoalescer(Func<ConsumeContext, List<PendingReply>, Task> send, TimeSpan handOnAfter, TimeSpan batchWait = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(handOnAfter, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchWait, TimeSpan.Zero);
        _send = send;
        _handOnAfter = handOnAfter;
        _batchWait = batchWait;
        _policy = new BatchWaitPolicy(batchWait);
    }

    /// <summary>Replies sent by a caller on behalf of others waiting with it (tests).</summary>
    internal long Shared => Interlocked.Read(ref _shared);

    /// <summary>Times a reply waited for others to join its message (tests).</summary>
    internal long Waits => Interlocked.Read(ref _waits);

    internal async Task SendAsync(ConsumeContext context, PendingReply reply)
    {
        var mine = new Waiting(reply);
        bool lead;
        lock (_gate)
        {
            _waiting.Add(mine);
            if (_batchWait > TimeSpan.Zero)
            {
                _arrivals++;
            }

            lead = !_sending;
            _sending = true;
        }

        if (!lead)
        {
            bool sent;
            try
            {
                // False: the caller before this one has sent and it is this caller's turn.
                sent = await mine.Turn.Task;
            }
            catch (Exception)
            {
                // The message this reply shared failed: once more, alone, from this command's own consume.
                await _send(context, [reply]);
                return;
            }

            if (sent)
            {
                return;
            }
        }
        else if (_batchWait > TimeSpan.Zero)
        {
            await WaitForCompanyAsync();
        }

        List<Waiting> batch;
        lock (_gate)
        {
            if (!lead && _batchWait > TimeSpan.Zero)
            {
                // A turn handed on: these replies already waited for the send before, so they go now; they still
                // count towards the rate.
                _policy.Observe(_arrivals, Stopwatch.GetTimestamp());
                _arrivals = 0;
            }

            // This caller is first: it was alone when it began, or it was handed the turn as the first one waiting.
            batch = _waiting.Count <= MaxBatch ? _waiting : _waiting.GetRange(0, MaxBatch);
            _waiting = _waiting.Count <= MaxBatch ? [] : _waiting.GetRange(MaxBatch, _waiting.Count - MaxBatch);
        }

        Task send;
        try
        {
            send = _send(context, batch.ConvertAll(w => w.Reply));
        }
        catch (Exception ex)
        {
            // Failed before it began: as a failed send, so the turn still passes on.
            send = Task.FromException(ex);
        }

        ExceptionDispatchInfo? failure = null;
        var late = false;
        try
        {
            await send.WaitAsync(_handOnAfter);
        }
        catch (TimeoutException) when (!send.IsCompleted)
        {
            late = true;
        }
        catch (Exception ex)
        {
            failure = ExceptionDispatchInfo.Capture(ex);
        }

        // The replies that rode along: sent; or the message failed or is late, and each goes again alone.
        var error = late
            ? new TimeoutException($"The message carrying this reply was not confirmed within {_handOnAfter}; the reply goes again alone.")
            : failure?.SourceException;
        if (error is null)
        {
            Interlocked.Add(ref _shared, batch.Count - 1);
        }

        foreach (var waiting in batch)
        {
            if (ReferenceEquals(waiting, mine))
            {
                continue;
            }

            if (error is null)
            {
                waiting.Turn.TrySetResult(true);
            }
            else
            {
                waiting.Turn.TrySetException(error);
            }
        }

        lock (_gate)
        {
            if (_waiting.Count > 0)
            {
                // Those that came during the send go next, from the consume of the first of them.
                _waiting[0].Turn.TrySetResult(false);
            }
            else
            {
                _sending = false;
            }
        }

        if (late)
        {
            // This caller's own reply is in that message: it waits for it, as a reply sent alone does.
            await send;
        }

        failure?.Throw();
    }

    /// <summary>
    /// The wait of a reply that found no send in flight, when the policy expects company. No cancellation: the replies
    /// that join count on this caller to send them.
    /// </summary>
    private async Task WaitForCompanyAsync()
    {
        lock (_gate)
        {
            var wait = _policy.ShouldWait(_arrivals, Stopwatch.GetTimestamp());
            _arrivals = 0;
            if (!wait)
            {
                return;
            }
        }

        Interlocked.Increment(ref _waits);
        await Task.Delay(_batchWait);
        lock (_gate)
        {
            _policy.Joined(_arrivals);
            _arrivals = 0;
        }
    }

    private sealed class Waiting(PendingReply reply)
    {
        public PendingReply Reply { get; } = reply;

        /// <summary>True: sent by another caller; false: this caller's turn to send; an exception: that send failed.</summary>
        public TaskCompletionSource<bool> Turn { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
