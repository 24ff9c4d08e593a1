using System.Diagnostics;
using Sagas.Contracts;

namespace Sagas.Participants.Telemetry;

/// <summary>
/// The participant library's spans, source <c>Sagas.Participants</c>: one per action or compensation handled. They
/// are children of MassTransit's consume span, which continues the trace the coordinator put in the message headers,
/// so a participant's work shows up in its saga's trace; a command that came in a batch hangs from its saga's context
/// directly and links the batch's consume span. Nothing is recorded unless a listener subscribes.
/// </summary>
public static class ParticipantDiagnostics
{
    public const string Name = "Sagas.Participants";

    public static readonly ActivitySource Source = new(Name);

    /// <summary>The parent every span of a saga hangs from: trace id = saga id (the coordinator's spans use it too).</summary>
    public static ActivityContext SagaContext(Guid sagaId)
    {
        Span<byte> bytes = stackalloc byte[16];
        sagaId.TryWriteBytes(bytes, bigEndian: true, out _);
        return new ActivityContext(ActivityTraceId.CreateFromBytes(bytes), ActivitySpanId.CreateFromBytes(bytes[8..]), ActivityTraceFlags.Recorded, isRemote: true);
    }

    /// <param name="batched">The command came in a <see cref="StepCommandBatch"/>, whose consume span is in no saga's
    /// trace: the span then hangs from the saga's own context and links the batch's.</param>
    public static Activity? StartAction(string participant, ExecuteStep message, bool batched = false) =>
        Start("participant action", participant, message.SagaId, message.Step, message.Action, message.Attempt, batched);

    public static Activity? StartCompensation(string participant, CompensateStep message, bool batched = false) =>
        Start("participant compensation", participant, message.SagaId, message.Step, message.Compensation, message.Attempt, batched);

    /// <summary>Tags the span with the reply it produced (or <c>silent</c> when a fault swallowed it).</summary>
    public static void RecordOutcome(Activity? activity, object? reply)
    {
        if (activity is null)
        {
            return;
        }

        var (outcome, reason) = reply switch
        {
            StepSucceeded or StepCompensated => ("succeeded", null),
            StepFailed f => ("failed", f.Reason),
            CompensationFailed f => ("failed", f.Reason),
            null => ("silent", null),
            _ => (reply.GetType().Name, null),
        };
        activity.SetTag("outcome", outcome);
        if (reason is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, reason);
        }
    }

    private static Activity? Start(string kind, string participant, Guid sagaId, string step, string handler, int attempt, bool batched)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = batched
            ? Source.StartActivity(kind + " " + step, ActivityKind.Internal, SagaContext(sagaId), links: Activity.Current is { } batch ? [new ActivityLink(batch.Context)] : null)
            : Source.StartActivity(kind + " " + step);
        activity?.SetTag("saga.id", sagaId.ToString());
        activity?.SetTag("step", step);
        activity?.SetTag("attempt", attempt);
        activity?.SetTag("participant", participant);
        activity?.SetTag("handler", handler);
        return activity;
    }
}
