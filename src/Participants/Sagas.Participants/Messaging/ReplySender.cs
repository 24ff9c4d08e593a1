using MassTransit;
using Sagas.Contracts;
using Sagas.Participants.Payloads;

namespace Sagas.Participants;

/// <summary>Replies are sent (not published) to the coordinator's queue, correlated to the command they answer.</summary>
internal static class ReplySender
{
    public static async Task SendAsync(ConsumeContext context, object? reply, Guid sagaId, PayloadCodec payloads, ParticipantReplyOptions options)
    {
        if (reply is null)
        {
            return;
        }

        reply = await payloads.EncodeReplyAsync(reply, context.CancellationToken);

        var endpoint = await context.GetSendEndpoint(options.ReplyAddress);

        // One id for every copy, so the coordinator's inbox sees a duplicate rather than a second reply.
        var messageId = NewId.NextGuid();
        var pipe = Pipe.Execute<SendContext>(send =>
        {
            send.MessageId = messageId;
            send.CorrelationId = context.MessageId;
            send.Headers.Set(Endpoints.SagaIdHeader, sagaId.ToString());
        });

        var copies = options.SendEveryReplyTwice ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            await endpoint.Send(reply, reply.GetType(), pipe, context.CancellationToken);
        }
    }
}
