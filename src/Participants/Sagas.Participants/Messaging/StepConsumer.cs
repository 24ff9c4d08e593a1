using MassTransit;
using Microsoft.Extensions.Options;
using Sagas.Contracts;
using Sagas.Participants.Telemetry;

namespace Sagas.Participants;

/// <summary>
/// The participant's only consumer: one type per DbContext so several participants can share one bus, each
/// on its own queue. Exceptions escape only for malformed messages, which MassTransit moves to <c>&lt;queue&gt;_error</c>.
/// </summary>
public sealed class StepConsumer<TDb>(StepDispatcher<TDb> dispatcher, IOptions<ParticipantReplyOptions> options) :
    IConsumer<ExecuteStep>,
    IConsumer<CompensateStep>
    where TDb : ParticipantDbContext
{
    public async Task Consume(ConsumeContext<ExecuteStep> context)
    {
        object? reply;
        using (var activity = ParticipantDiagnostics.StartAction(dispatcher.Participant, context.Message))
        {
            reply = await dispatcher.ExecuteAsync(context.Message, context.CancellationToken);
            ParticipantDiagnostics.RecordOutcome(activity, reply);
        }

        await ReplySender.SendAsync(context, reply, context.Message.SagaId, options.Value);
    }

    public async Task Consume(ConsumeContext<CompensateStep> context)
    {
        object? reply;
        using (var activity = ParticipantDiagnostics.StartCompensation(dispatcher.Participant, context.Message))
        {
            reply = await dispatcher.CompensateAsync(context.Message, context.CancellationToken);
            ParticipantDiagnostics.RecordOutcome(activity, reply);
        }

        await ReplySender.SendAsync(context, reply, context.Message.SagaId, options.Value);
    }
}
