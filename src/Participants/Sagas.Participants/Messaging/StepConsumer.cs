using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sagas.Contracts;
using Sagas.Participants.Payloads;
using Sagas.Participants.Telemetry;

namespace Sagas.Participants;

/// <summary>
/// The participant's only consumer: one type per DbContext so several participants can share one bus, each
/// on its own queue. Exceptions escape only for malformed messages and payloads that cannot be decoded (unknown key
/// id, altered ciphertext, missing claim), which MassTransit moves to <c>&lt;queue&gt;_error</c>.
/// </summary>
public sealed class StepConsumer<TDb>(
    StepDispatcher<TDb> dispatcher,
    PayloadCodec payloads,
    IOptions<ParticipantReplyOptions> options,
    ReplyCoalescer shared,
    ILogger<StepConsumer<TDb>> logger) :
    IConsumer<ExecuteStep>,
    IConsumer<CompensateStep>,
    IConsumer<StepCommandBatch>
    where TDb : ParticipantDbContext
{
    /// <summary>Commands of one batch handled at once, at most.</summary>
    public const int BatchParallelism = 8;

    public async Task Consume(ConsumeContext<ExecuteStep> context)
    {
        var reply = await ExecuteAsync(context.Message, batched: false, context.CancellationToken);
        await ReplyAsync(context, reply, context.Message.SagaId);
    }

    public async Task Consume(ConsumeContext<CompensateStep> context)
    {
        var reply = await CompensateAsync(context.Message, batched: false, context.CancellationToken);
        await ReplyAsync(context, reply, context.Message.SagaId);
    }

    /// <summary>
    /// Each command as if it had come alone, up to <see cref="BatchParallelism"/> at once. Replies go back as they are
    /// ready, those ready together in one message, so a slow or held command delays no other's. A command that cannot
    /// be handled (malformed, or a payload that cannot be decoded) is sent on to this queue by itself, where it fails
    /// as it would have alone and lands in the error queue with its reason; the others go on. If anything else fails,
    /// the whole batch is delivered again: commands already handled are not run twice (the barrier) and their replies
    /// are sent again (the coordinator's inbox drops the copies).
    /// </summary>
    public async Task Consume(ConsumeContext<StepCommandBatch> context)
    {
        var commands = context.Message.Commands;
        if (commands is null || commands.Count == 0 || commands.Any(c => c is null || (c.Execute is null) == (c.Compensate is null)))
        {
            throw new ArgumentException("Malformed StepCommandBatch: it needs commands, each with exactly one of execute and compensate.");
        }

        var replies = options.Value.BatchAcrossCommands ? shared : new ReplyCoalescer(options);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = BatchParallelism, CancellationToken = context.CancellationToken };
        await Parallel.ForEachAsync(commands, parallel, async (command, ct) =>
        {
            // No command is dropped by this clock (see ExecuteStep.ExpiresAt): the batch's own expiration is its
            // longest-lived command's, and a batch holds commands written together, with the same timeouts as a rule.
            var sagaId = command.Execute?.SagaId ?? command.Compensate!.SagaId;
            object? reply;
            try
            {
                reply = command.Execute is { } execute
                    ? await ExecuteAsync(execute, batched: true, ct)
                    : await CompensateAsync(command.Compensate!, batched: true, ct);
            }
            catch (Exception ex) when (ex is ArgumentException or PayloadCodecException)
            {
                logger.LogWarning(ex, "Command {MessageId} for saga {SagaId} in a batch cannot be handled; sending it on alone to fail into the error queue", command.MessageId, sagaId);
                await ForwardAloneAsync(context, command, sagaId, ct);
                return;
            }

            if (reply is not null)
            {
                await replies.SendAsync(context, await ReplySender.EncodeAsync(context, reply, sagaId, command.MessageId, payloads));
            }
        });
    }

    /// <summary>A single command's reply: shared with the replies of other commands ready at the same time, or alone.</summary>
    private async Task ReplyAsync(ConsumeContext context, object? reply, Guid sagaId)
    {
        if (reply is null)
        {
            return;
        }

        var pending = await ReplySender.EncodeAsync(context, reply, sagaId, context.MessageId, payloads);
        if (options.Value.BatchAcrossCommands)
        {
            await shared.SendAsync(context, pending);
        }
        else
        {
            await ReplySender.SendAsync(context, [pending], options.Value);
        }
    }

    private async Task<object?> ExecuteAsync(ExecuteStep encoded, bool batched, CancellationToken cancellationToken)
    {
        var message = await payloads.DecodeAsync(encoded, cancellationToken);
        using var activity = ParticipantDiagnostics.StartAction(dispatcher.Participant, message, batched);
        var reply = await dispatcher.ExecuteAsync(message, cancellationToken);
        ParticipantDiagnostics.RecordOutcome(activity, reply);
        return reply;
    }

    private async Task<object?> CompensateAsync(CompensateStep encoded, bool batched, CancellationToken cancellationToken)
    {
        var message = await payloads.DecodeAsync(encoded, cancellationToken);
        using var activity = ParticipantDiagnostics.StartCompensation(dispatcher.Participant, message, batched);
        var reply = await dispatcher.CompensateAsync(message, cancellationToken);
        ParticipantDiagnostics.RecordOutcome(activity, reply);
        return reply;
    }

    private static async Task ForwardAloneAsync(ConsumeContext context, BatchedStepCommand command, Guid sagaId, CancellationToken cancellationToken)
    {
        var message = (object?)command.Execute ?? command.Compensate!;
        var endpoint = await context.GetSendEndpoint(context.ReceiveContext.InputAddress);
        await endpoint.Send(message, message.GetType(), Pipe.Execute<SendContext>(send =>
        {
            send.MessageId = command.MessageId;
            send.Headers.Set(Endpoints.SagaIdHeader, sagaId.ToString());
        }), cancellationToken);
    }
}
