using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sagas.Contracts;
using Sagas.Participants.Payloads;

namespace Sagas.Participants;

/// <summary>Sends a reply to the coordinator outside a consumed message (heartbeats and later outcomes of accepted work).</summary>
public interface IStepReplySender
{
    Task SendAsync(object reply, Guid sagaId, CancellationToken cancellationToken);
}

/// <summary>The default: sends through the bus to <see cref="ParticipantReplyOptions.ReplyAddress"/>. The bus is resolved on first use.</summary>
public sealed class BusStepReplySender(IServiceProvider services, PayloadCodec payloads, IOptions<ParticipantReplyOptions> options) : IStepReplySender
{
    public async Task SendAsync(object reply, Guid sagaId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reply);
        reply = await payloads.EncodeReplyAsync(reply, cancellationToken);
        var endpoint = await services.GetRequiredService<IBus>().GetSendEndpoint(options.Value.ReplyAddress);
        var pipe = Pipe.Execute<SendContext>(send => send.Headers.Set(Endpoints.SagaIdHeader, sagaId.ToString()));
        await endpoint.Send(reply, reply.GetType(), pipe, cancellationToken);
    }
}
