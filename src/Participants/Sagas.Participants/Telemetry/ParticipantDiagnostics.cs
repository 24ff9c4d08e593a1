using System.Diagnostics;
using Sagas.Contracts;

namespace Sagas.Participants.Telemetry;

/// <summary>
/// The participant library's spans, source <c>Sagas.Participants</c>: one per action or compensation handled. They
/// are children of MassTransit's consume span, which continues the trace the coordinator put in the message headers,
/// so a participant's work shows up in its saga's trace. Nothing is recorded unless a listener subscribes.
/// </summary>
public static class ParticipantDiagnostics
{
    public const string Name = "Sagas.Participants";

    public static readonly ActivitySource Source = new(Name);

    public static Activity? StartAction(string participant, ExecuteStep message) =>
        Start("participant action", participant, message.SagaId, message.Step, message.Action, message.Attempt);

    public static Activity? StartCompensation(string participant, CompensateStep message) =>
        Start("participant compensation", participant, message.SagaId, message.Step, message.Compensation, message.Attempt);

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

    private static Activity? Start(string kind, string participant, Guid sagaId, string step, string handler, int attempt)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity(kind + " " + step);
        activity?.SetTag("saga.id", sagaId.ToString());
        activity?.SetTag("step", step);
        activity?.SetTag("attempt", attempt);
        activity?.SetTag("participant", participant);
        activity?.SetTag("handler", handler);
        return activity;
    }
}
