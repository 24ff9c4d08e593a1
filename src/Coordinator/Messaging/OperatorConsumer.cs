using System.Text.Json;
using MassTransit;
using Sagas.Contracts;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Messaging;

/// <summary>Operator actions sent by services over the bus: the same rules and audit as the HTTP API.</summary>
public sealed class OperatorConsumer(SagaProcessor processor, PayloadCodec payloads, ILogger<OperatorConsumer> logger) :
    IConsumer<CancelSaga>,
    IConsumer<PauseSaga>,
    IConsumer<ResumeSaga>,
    IConsumer<RetrySaga>,
    IConsumer<SkipCompensation>,
    IConsumer<SignalSaga>,
    IConsumer<ChangeSagaDeadline>
{
    public Task Consume(ConsumeContext<CancelSaga> context) =>
        Apply(context, context.Message.SagaId, "cancel", new OperatorCommand.Cancel(context.Message.Actor, context.Message.Reason));

    public Task Consume(ConsumeContext<PauseSaga> context) =>
        Apply(context, context.Message.SagaId, "pause", new OperatorCommand.Pause(context.Message.Actor, context.Message.Reason));

    public Task Consume(ConsumeContext<ResumeSaga> context) =>
        Apply(context, context.Message.SagaId, "resume", new OperatorCommand.Resume(context.Message.Actor, context.Message.Reason));

    public Task Consume(ConsumeContext<RetrySaga> context) =>
        Apply(context, context.Message.SagaId, "retry", new OperatorCommand.Retry(context.Message.Actor, context.Message.Reason, context.Message.Step));

    public Task Consume(ConsumeContext<SkipCompensation> context) =>
        Apply(context, context.Message.SagaId, "skip", new OperatorCommand.SkipCompensation(context.Message.Actor, context.Message.Reason, context.Message.Step));

    public async Task Consume(ConsumeContext<SignalSaga> context)
    {
        var m = context.Message;
        var decoded = await payloads.DecodeAsync(m.Payload, context.CancellationToken);
        var payload = decoded is { ValueKind: JsonValueKind.Object } p ? p.GetRawText() : null;
        await Apply(context, m.SagaId, "signal", new OperatorCommand.Signal(m.Actor, m.Reason ?? "", m.Name, payload));
    }

    public Task Consume(ConsumeContext<ChangeSagaDeadline> context) =>
        Apply(context, context.Message.SagaId, "deadline", new OperatorCommand.ChangeDeadline(context.Message.Actor, context.Message.Reason, context.Message.DeadlineAt));

    private async Task Apply(ConsumeContext context, Guid sagaId, string action, OperatorCommand command)
    {
        var problem = OperatorInput.Check(command);
        HandleResult? result = null;
        if (problem is null)
        {
            result = await processor.OperateAsync(sagaId, context.MessageId, command, context.CancellationToken);
            problem = result.Outcome switch
            {
                HandleOutcome.Rejected => result.Rejection,
                HandleOutcome.UnknownSaga => $"no saga with id {sagaId}",
                _ => null,
            };
        }

        if (problem is null)
        {
            return;
        }

        logger.LogWarning("Rejected {Action} of saga {SagaId} by {Actor}: {Reason}", action, sagaId, command.Actor, problem);
        var rejected = new OperatorActionRejected(sagaId, action, problem, DateTimeOffset.UtcNow);
        if (context.ResponseAddress is not null)
        {
            await context.RespondAsync(rejected);
        }

        await context.Publish(rejected);
    }
}

/// <summary>Checks common to every operator action, wherever it comes from.</summary>
public static class OperatorInput
{
    public const int MaxReason = 1000;

    /// <summary>Null when the action is well formed, otherwise what is wrong with it (naming the field).</summary>
    public static string? Check(OperatorCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (string.IsNullOrWhiteSpace(command.Actor))
        {
            return "actor: is required";
        }

        if (command is not OperatorCommand.Signal && string.IsNullOrWhiteSpace(command.Reason))
        {
            return "reason: is required: say why, it goes into the saga's history";
        }

        if (command.Reason.Length > MaxReason)
        {
            return $"reason: must be at most {MaxReason} characters";
        }

        return command switch
        {
            OperatorCommand.Signal g when string.IsNullOrWhiteSpace(g.Name) || g.Name.Length > 100 => "name: a signal needs a name of 1 to 100 characters",
            OperatorCommand.SkipCompensation k when string.IsNullOrWhiteSpace(k.Step) => "step: is required",
            _ => null,
        };
    }
}
