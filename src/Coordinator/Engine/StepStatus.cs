using System.Text.Json.Serialization;

namespace Sagas.Coordinator.Engine;

[JsonConverter(typeof(JsonStringEnumConverter<StepStatus>))]
public enum StepStatus
{
    /// <summary>Not started; never compensated.</summary>
    Pending,

    /// <summary>A command is out; waiting for the reply or the timeout.</summary>
    Running,

    /// <summary>A retryable failure; the next attempt waits for its back-off.</summary>
    RetryScheduled,

    Succeeded,

    /// <summary>A business failure: the participant committed nothing, so nothing to undo.</summary>
    Failed,

    /// <summary>Gave up with the outcome unknown (timed out, retries used up, or abandoned by a deadline): may have run, so it is compensated.</summary>
    TimedOut,

    /// <summary>A compensation command is out.</summary>
    Compensating,

    CompensationRetryScheduled,

    Compensated,

    /// <summary>The compensation could not be completed: the saga is Failed and needs a person.</summary>
    CompensationFailed,

    /// <summary>An operator marked the compensation resolved by hand.</summary>
    CompensationSkipped,

    /// <summary>A wait step is waiting for its signal.</summary>
    Waiting,
}

public static class StepStatusExtensions
{
    /// <summary>A step that succeeded or may have run must be compensated when the saga rolls back.</summary>
    public static bool MayHaveRun(this StepStatus status) =>
        status is StepStatus.Succeeded or StepStatus.TimedOut or StepStatus.Running or StepStatus.RetryScheduled;
}
