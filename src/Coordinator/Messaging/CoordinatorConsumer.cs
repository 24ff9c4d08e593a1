using System.Text.Json;
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

    public Task Consume(ConsumeContext<StepSucceeded> context) =>
        context.Message.Output is { } output && PayloadCodec.IsEncoded(output)
            ? ApplyDecoded(context, output)
            : Apply(context, context.Message.SagaId, SagaEvent.From(context.Message));

    public Task Consume(ConsumeContext<StepFailed> context) => Apply(context, context.Message.SagaId, SagaEvent.From(context.Message));

    public Task Consume(ConsumeContext<StepCompensated> context) => Apply(context, context.Message.SagaId, SagaEvent.From(context.Message));

    public Task Consume(ConsumeContext<CompensationFailed> context) => Apply(context, context.Message.SagaId, SagaEvent.From(context.Message));

    public Task Consume(ConsumeContext<StepHeartbeat> context) => Apply(context, context.Message.SagaId, SagaEvent.From(context.Message));

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
            var evt = reply switch
            {
                StepSucceeded { Output: { } output } s when PayloadCodec.IsEncoded(output) =>
                    SagaEvent.From(s with { Output = await payloads.DecodeAsync(output, context.CancellationToken) }),
                StepSucceeded s => SagaEvent.From(s),
                StepFailed f => SagaEvent.From(f),
                StepCompensated c => SagaEvent.From(c),
                CompensationFailed c => SagaEvent.From(c),
                StepHeartbeat h => SagaEvent.From(h),
                _ => throw new ArgumentException($"Reply {item.MessageId} in a StepReplyBatch carries no outcome."),
            };
            var sagaId = SagaIdOf(reply);
            var outcome = await processor.HandleAsync(sagaId, item.MessageId, evt, context.CancellationToken);
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
            send.Headers.Set(Endpoints.SagaIdHeader, SagaIdOf(reply).ToString());
        }), context.CancellationToken);
    }

    private static Guid SagaIdOf(object reply) => reply switch
    {
        StepSucceeded s => s.SagaId,
        StepFailed f => f.SagaId,
        StepCompensated c => c.SagaId,
        CompensationFailed c => c.SagaId,
        StepHeartbeat h => h.SagaId,
        _ => Guid.Empty,
    };

    private async Task ApplyDecoded(ConsumeContext<StepSucceeded> context, JsonElement output)
    {
        var message = context.Message with { Output = await payloads.DecodeAsync(output, context.CancellationToken) };
        await Apply(context, message.SagaId, SagaEvent.From(message));
    }

    private async Task Apply(ConsumeContext context, Guid sagaId, SagaEvent evt)
    {
        var outcome = await processor.HandleAsync(sagaId, context.MessageId, evt, context.CancellationToken);
        if (outcome == HandleOutcome.UnknownSaga)
        {
            throw new UnknownSagaException(sagaId);
        }
    }
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
