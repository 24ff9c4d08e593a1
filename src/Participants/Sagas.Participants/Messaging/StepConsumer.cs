using System.Diagnostics;
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
    IOptions<ParticipantBatchOptions> batching,
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
    /// <para>First attempts of actions that may share a transaction (<see cref="ParticipantBatchOptions.MaxPerTransaction"/>)
    /// are handled together, in transactions of up to that many commands (one at a time per participant), beside the
    /// others.</para>
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
        var maxShared = batching.Value.MaxPerTransaction;

        // Actions are decoded and shown to the fault hook first, to find those that may share a transaction.
        var decided = new Decided?[commands.Count];
        if (maxShared > 1 && commands.Count(c => c.Execute is { Attempt: 1 }) > 1)
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, commands.Count), parallel, async (i, ct) =>
            {
                if (commands[i].Execute is { Attempt: 1 } execute)
                {
                    decided[i] = await DecideAsync(context, commands[i], execute, ct);
                }
            });
        }

        var together = Enumerable.Range(0, commands.Count).Where(i => decided[i] is { Shares: true }).ToList();

        // The shared transactions first: each holds its participant's turn, the others run beside it.
        var units = together.Chunk(maxShared).ToList();
        units.AddRange(Enumerable.Range(0, commands.Count).Where(i => decided[i] is not { Shares: true }).Select(i => new[] { i }));
        await Parallel.ForEachAsync(units, parallel, async (unit, ct) =>
        {
            if (unit.Length > 1)
            {
                await ExecuteTogetherAsync(context, unit.Select(i => (commands[i], decided[i]!.Message!)).ToList(), replies, ct);
                return;
            }

            var command = commands[unit[0]];
            switch (decided[unit[0]])
            {
                case { Message: null }:
                    return;
                case { Message: { } message, Decision: var decision }:
                    await SendAsync(context, replies, command, await ExecuteDecodedAsync(message, decision, batched: true, ct));
                    return;
            }

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

            await SendAsync(context, replies, command, reply);
        });
    }

    /// <summary>
    /// A first attempt decoded and shown to the fault hook; one that cannot be handled is sent on alone (no message).
    /// </summary>
    private async Task<Decided> DecideAsync(ConsumeContext context, BatchedStepCommand command, ExecuteStep encoded, CancellationToken ct)
    {
        try
        {
            var message = await payloads.DecodeAsync(encoded, ct);
            var decision = await dispatcher.DecideAsync(message, ct);
            return new Decided(message, decision, dispatcher.MayShare(message, decision));
        }
        catch (Exception ex) when (ex is ArgumentException or PayloadCodecException)
        {
            logger.LogWarning(ex, "Command {MessageId} for saga {SagaId} in a batch cannot be handled; sending it on alone to fail into the error queue", command.MessageId, encoded.SagaId);
            await ForwardAloneAsync(context, command, encoded.SagaId, ct);
            return new Decided(null, FaultDecision.None, false);
        }
    }

    /// <summary>Actions handled in one transaction; each with its own span, hanging from its saga's trace.</summary>
    private async Task ExecuteTogetherAsync(ConsumeContext context, List<(BatchedStepCommand Command, ExecuteStep Message)> items, ReplyCoalescer replies, CancellationToken ct)
    {
        var consume = Activity.Current;
        var spans = new Activity?[items.Count];
        try
        {
            for (var i = 0; i < items.Count; i++)
            {
                spans[i] = ParticipantDiagnostics.StartAction(dispatcher.Participant, items[i].Message, batched: true);
                Activity.Current = consume;
            }

            var results = await dispatcher.ExecuteTogetherAsync(items.ConvertAll(i => i.Message), ct);
            var sends = new Task[items.Count];
            for (var i = 0; i < items.Count; i++)
            {
                ParticipantDiagnostics.RecordOutcome(spans[i], results[i]);
                sends[i] = SendAsync(context, replies, items[i].Command, results[i]);
            }

            await Task.WhenAll(sends);
        }
        finally
        {
            foreach (var span in spans)
            {
                span?.Dispose();
            }
        }
    }

    private async Task SendAsync(ConsumeContext context, ReplyCoalescer replies, BatchedStepCommand command, object? reply)
    {
        if (reply is not null)
        {
            var sagaId = command.Execute?.SagaId ?? command.Compensate!.SagaId;
            await replies.SendAsync(context, await ReplySender.EncodeAsync(context, reply, sagaId, command.MessageId, payloads));
        }
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
        return await ExecuteDecodedAsync(message, await dispatcher.DecideAsync(message, cancellationToken), batched, cancellationToken);
    }

    private async Task<object?> ExecuteDecodedAsync(ExecuteStep message, FaultDecision decision, bool batched, CancellationToken cancellationToken)
    {
        using var activity = ParticipantDiagnostics.StartAction(dispatcher.Participant, message, batched);
        var reply = await dispatcher.ExecuteAsync(message, decision, claimFirst: false, cancellationToken);
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

    /// <summary>A first attempt, decoded (null: it could not be, and was sent on alone) and decided.</summary>
    private sealed record Decided(ExecuteStep? Message, FaultDecision Decision, bool Shares);

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
