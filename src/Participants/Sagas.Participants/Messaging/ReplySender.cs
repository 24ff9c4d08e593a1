using MassTransit;
using Sagas.Contracts;
using Sagas.Participants.Payloads;

namespace Sagas.Participants;

/// <summary>Replies are sent (not published) to the coordinator's queue, correlated to the command they answer.</summary>
internal static class ReplySender
{
    /// <summary>Encodes a reply (encryption, claim check) in the consume of the command it answers, ready to send.</summary>
    public static async Task<PendingReply> EncodeAsync(ConsumeContext context, object reply, Guid sagaId, Guid? correlationId, PayloadCodec payloads) =>
        new(await payloads.EncodeReplyAsync(reply, context.CancellationToken), sagaId, correlationId);

    /// <summary>Encoded replies ready together: one alone travels as itself, more go as one <see cref="StepReplyBatch"/>.</summary>
    public static async Task SendAsync(ConsumeContext context, IReadOnlyList<PendingReply> replies, ParticipantReplyOptions options)
    {
        if (replies.Count <= 1)
        {
            if (replies.Count == 1)
            {
                await SendOneAsync(context, replies[0], options);
            }

            return;
        }

        var items = new BatchedStepReply[replies.Count];
        for (var i = 0; i < replies.Count; i++)
        {
            items[i] = BatchedStepReply.Of(NewId.NextGuid(), replies[i].CorrelationId, replies[i].Reply);
        }

        var endpoint = await context.GetSendEndpoint(options.ReplyAddress);
        var messageId = NewId.NextGuid();
        var pipe = Pipe.Execute<SendContext>(send =>
        {
            send.MessageId = messageId;
            send.CorrelationId = context.MessageId;
        });
        var batch = new StepReplyBatch(items);
        for (var i = 0; i < Copies(options); i++)
        {
            await endpoint.Send(batch, pipe, context.CancellationToken);
        }
    }

    private static async Task SendOneAsync(ConsumeContext context, PendingReply pending, ParticipantReplyOptions options)
    {
        var reply = pending.Reply;
        var endpoint = await context.GetSendEndpoint(options.ReplyAddress);

        // One id for every copy, so the coordinator's inbox sees a duplicate rather than a second reply.
        var messageId = NewId.NextGuid();
        var pipe = Pipe.Execute<SendContext>(send =>
        {
            send.MessageId = messageId;
            send.CorrelationId = pending.CorrelationId;
            send.Headers.Set(Endpoints.SagaIdHeader, pending.SagaId.ToString());
        });

        for (var i = 0; i < Copies(options); i++)
        {
            await endpoint.Send(reply, reply.GetType(), pipe, context.CancellationToken);
        }
    }

    private static int Copies(ParticipantReplyOptions options) => options.SendEveryReplyTwice ? 2 : 1;
}

/// <summary>An encoded reply waiting to be sent, with the saga it is for and the message id of the command it answers.</summary>
internal readonly record struct PendingReply(object Reply, Guid SagaId, Guid? CorrelationId);
