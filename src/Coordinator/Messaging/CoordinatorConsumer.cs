using MassTransit;
using Sagas.Contracts;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Messaging;

/// <summary>
/// The coordinator's queue: starts and participant replies, each fed to the Engine in one transaction. Encoded
/// payloads (encrypted, claimed) are decoded here, at the edge; one that cannot be decoded throws, which moves the
/// message to the error queue with the reason rather than applying anything.
/// </summary>
public sealed class CoordinatorConsumer(SagaProcessor processor, StartValidator validator, PayloadCodec payloads, ILogger<CoordinatorConsumer> logger) :
    IConsumer<StartSaga>,
    IConsumer<StepSucceeded>,
    IConsumer<StepFailed>,
    IConsumer<StepCompensated>,
    IConsumer<CompensationFailed>,
    IConsumer<StepHeartbeat>,
    IConsumer<StepReplyBatch>
{
    public async Task Consume(ConsumeContext<StartSaga> context)
    {
        var message = context.Message;
        if (PayloadCodec.IsEncoded(message.Data))
        {
            message = message with { Data = await payloads.DecodeAsync(message.Data, context.CancellationToken) };
        }

        var (command, error) = validator.Validate(message);
        if (command is not null)
        {
            var result = await processor.StartAsync(command, context.MessageId, context.CancellationToken);
            error = result.Outcome is StartOutcome.UnknownDefinition or StartOutcome.Conflict ? result.Error : null;
        }

        if (error is not null)
        {
            // Nothing was started; the sender hears why and the rejection is on the record.
            logger.LogWarning("Rejected start of saga {SagaId} ({Definition}): {Reason}", message.SagaId, message.Definition, error);
            var rejected = new SagaStartRejected(message.SagaId, message.Definition ?? "", error, DateTimeOffset.UtcNow);
            if (context.ResponseAddress is not null)
            {
                await context.RespondAsync(rejected);
            }

            await context.Publish(rejected);
        }
    }

    public Task Consume(ConsumeContext<StepSucceeded> context) => Apply(context, context.Message.SagaId, context.Message);

    public Task Consume(ConsumeContext<StepFailed> context) => Apply(context, context.Message.SagaId, context.Message);

    public Task Consume(ConsumeContext<StepCompensated> context) => Apply(context, context.Message.SagaId, context.Message);

    public Task Consume(ConsumeContext<CompensationFailed> context) => Apply(context, context.Message.SagaId, context.Message);

    public Task Consume(ConsumeContext<StepHeartbeat> context) => Apply(context, context.Message.SagaId, context.Message);

    /// <summary>
    /// Each reply as if it had come alone, all at once (the group commit takes them together), each deduped by its own
    /// message id. One that cannot be applied (for a saga unknown here, a payload that cannot be decoded, malformed) is
    /// sent on to this queue by itself, where it fails into the error queue with its reason as it would have alone; a
    /// failure of anything else delivers the batch again, and replies already applied are then dropped as duplicates.
    /// </summary>
    public async Task Consume(ConsumeContext<StepReplyBatch> context)
    {
        var replies = context.Message.Replies;
        if (replies is null || replies.Count == 0 || replies.Any(r => r is null || r.MessageId == Guid.Empty || r.Outcomes != 1))
        {
            throw new ArgumentException("Malformed StepReplyBatch: it needs replies, each with a message id and exactly one reply.");
        }

        await Task.WhenAll(replies.Select(reply => ApplyBatchedAsync(context, reply)));
    }

    private async Task ApplyBatchedAsync(ConsumeContext context, BatchedStepReply item)
    {
        var reply = item.Reply!;
        try
        {
            var evt = await ToEventAsync(reply, context.CancellationToken);
            var outcome = await processor.HandleAsync(item.SagaId, item.MessageId, evt, context.CancellationToken);
            if (outcome != HandleOutcome.UnknownSaga)
            {
                return;
            }
        }
        catch (Exception ex) when (ex is PayloadCodecException or ArgumentException)
        {
            logger.LogWarning(ex, "Reply {MessageId} in a batch cannot be applied", item.MessageId);
        }

        // Alone, it fails the way a single reply does: in the error queue, with the reason.
        var endpoint = await context.GetSendEndpoint(context.ReceiveContext.InputAddress);
        await endpoint.Send(reply, reply.GetType(), Pipe.Execute<SendContext>(send =>
        {
            send.MessageId = item.MessageId;
            send.CorrelationId = item.CorrelationId;
            send.Headers.Set(Endpoints.SagaIdHeader, item.SagaId.ToString());
        }), context.CancellationToken);
    }

    private async Task Apply(ConsumeContext context, Guid sagaId, object reply)
    {
        var evt = await ToEventAsync(reply, context.CancellationToken);
        var outcome = await processor.HandleAsync(sagaId, context.MessageId, evt, context.CancellationToken);
        if (outcome == HandleOutcome.UnknownSaga)
        {
            throw new UnknownSagaException(sagaId);
        }
    }

    /// <summary>A participant's reply as the Engine's event; an encoded output is decoded here (throws when it cannot be).</summary>
    private async ValueTask<SagaEvent> ToEventAsync(object reply, CancellationToken cancellationToken) => reply switch
    {
        StepSucceeded { Output: { } output } s when PayloadCodec.IsEncoded(output) =>
            SagaEvent.From(s with { Output = await payloads.DecodeAsync(output, cancellationToken) }),
        StepSucceeded s => SagaEvent.From(s),
        StepFailed f => SagaEvent.From(f),
        StepCompensated c => SagaEvent.From(c),
        CompensationFailed c => SagaEvent.From(c),
        StepHeartbeat h => SagaEvent.From(h),
        _ => throw new ArgumentException($"{reply.GetType().Name} is not a participant's reply."),
    };
}

/// <summary>A reply for a saga this coordinator never started: moved to the error queue with this reason.</summary>
public sealed class UnknownSagaException : Exception
{
    public UnknownSagaException(Guid sagaId)
        : base($"No saga with id {sagaId} exists")
    {
    }

    public UnknownSagaException()
    {
    }

    public UnknownSagaException(string message)
        : base(message)
    {
    }

    public UnknownSagaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
