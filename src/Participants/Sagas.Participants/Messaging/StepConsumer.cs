using MassTransit;
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
public sealed class StepConsumer<TDb>(StepDispatcher<TDb> dispatcher, PayloadCodec payloads, IOptions<ParticipantReplyOptions> options) :
    IConsumer<ExecuteStep>,
    IConsumer<CompensateStep>
    where TDb : ParticipantDbContext
{
    public async Task Consume(ConsumeContext<ExecuteStep> context)
    {
        var message = await payloads.DecodeAsync(context.Message, context.CancellationToken);
        object? reply;
        using (var activity = ParticipantDiagnostics.StartAction(dispatcher.Participant, message))
        {
            reply = await dispatcher.ExecuteAsync(message, context.CancellationToken);
            ParticipantDiagnostics.RecordOutcome(activity, reply);
        }

        await ReplySender.SendAsync(context, reply, message.SagaId, payloads, options.Value);
    }

    public async Task Consume(ConsumeContext<CompensateStep> context)
    {
        var message = await payloads.DecodeAsync(context.Message, context.CancellationToken);
        object? reply;
        using (var activity = ParticipantDiagnostics.StartCompensation(dispatcher.Participant, message))
        {
            reply = await dispatcher.CompensateAsync(message, context.CancellationToken);
            ParticipantDiagnostics.RecordOutcome(activity, reply);
        }

        await ReplySender.SendAsync(context, reply, message.SagaId, payloads, options.Value);
    }
}
