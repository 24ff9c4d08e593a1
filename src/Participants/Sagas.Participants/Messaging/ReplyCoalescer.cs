using System.Runtime.ExceptionServices;
using MassTransit;
using Microsoft.Extensions.Options;
using Sagas.Participants.Payloads;

namespace Sagas.Participants;

/// <summary>
/// The process's replies to the coordinator, shared across the commands being handled: a reply with no other send in
/// flight goes at once, as itself; replies that become ready while a send is in flight wait for it and then go
/// together, as one <see cref="Contracts.StepReplyBatch"/> (one alone still travels as itself). At moderate load
/// commands arrive one by one, so this is where their replies can still share a broker message: each message costs
/// the broker, this process and the coordinator a wake-up and a pipeline run.
/// <para>
/// Every caller returns once the message carrying its reply is sent (confirmed), or throws when that send failed, so
/// a command is acknowledged only after its reply left, as when it sends alone. The caller that finds no send in flight
/// sends what is waiting, its own reply among it, from its own consume, then hands the next turn to the first caller
/// still waiting, which sends from its own: no consume is kept sending others' replies after its own has gone, and a
/// reply that travels alone is always sent from the consume of the command it answers.
/// </para>
/// </summary>
/// <remarks>
/// Registered by <c>AddSagaParticipant</c>. One instance per process is shared by every consume (<see cref="ParticipantReplyOptions.BatchAcrossCommands"/>); with
/// that turned off, a command batch's consume has one of its own for its commands' replies.
/// </remarks>
public sealed class ReplyCoalescer
{
    private readonly Func<ConsumeContext, List<PendingReply>, Task> _send;
    private readonly Lock _gate = new();
    private List<Waiting> _waiting = [];
    private bool _sending;
    private long _shared;

    public ReplyCoalescer(PayloadCodec payloads, IOptions<ParticipantReplyOptions> options)
        : this((context, replies) => ReplySender.SendAsync(context, replies, payloads, options.Value))
    {
    }

    /// <summary>With the send of what is waiting given (tests).</summary>
    internal ReplyCoalescer(Func<ConsumeContext, List<PendingReply>, Task> send) => _send = send;

    /// <summary>Replies sent by a caller on behalf of others waiting with it (tests).</summary>
    internal long Shared => Interlocked.Read(ref _shared);

    internal async Task SendAsync(ConsumeContext context, PendingReply reply)
    {
        var mine = new Waiting(reply);
        bool lead;
        lock (_gate)
        {
            _waiting.Add(mine);
            lead = !_sending;
            _sending = true;
        }

        // False: the caller before this one has sent and it is this caller's turn.
        if (!lead && await mine.Turn.Task)
        {
            return;
        }

        List<Waiting> batch;
        lock (_gate)
        {
            batch = _waiting;
            _waiting = [];
        }

        ExceptionDispatchInfo? failure = null;
        try
        {
            await _send(context, batch.ConvertAll(w => w.Reply));
        }
        catch (Exception ex)
        {
            failure = ExceptionDispatchInfo.Capture(ex);
        }

        Interlocked.Add(ref _shared, batch.Count - 1);
        foreach (var waiting in batch)
        {
            if (ReferenceEquals(waiting, mine))
            {
                continue;
            }

            if (failure is null)
            {
                waiting.Turn.TrySetResult(true);
            }
            else
            {
                waiting.Turn.TrySetException(failure.SourceException);
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

        failure?.Throw();
    }

    private sealed class Waiting(PendingReply reply)
    {
        public PendingReply Reply { get; } = reply;

        /// <summary>True: sent by another caller; false: this caller's turn to send.</summary>
        public TaskCompletionSource<bool> Turn { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
