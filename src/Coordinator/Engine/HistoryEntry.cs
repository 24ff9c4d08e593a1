namespace Sagas.Coordinator.Engine;

/// <summary>One line of a saga's append-only audit log.</summary>
public sealed record HistoryEntry(
    int Sequence,
    DateTimeOffset At,
    string Type,
    string? Step,
    int? Attempt,
    string? Detail,
    string Actor);

/// <summary>History entry types; stable strings, part of the API.</summary>
public static class HistoryTypes
{
    public const string SagaStarted = "SagaStarted";
    public const string StepCommandSent = "StepCommandSent";
    public const string StepSucceeded = "StepSucceeded";
    public const string StepFailed = "StepFailed";
    public const string StepRetryScheduled = "StepRetryScheduled";
    public const string StepTimedOut = "StepTimedOut";
    public const string CompensationStarted = "CompensationStarted";
    public const string CompensationCommandSent = "CompensationCommandSent";
    public const string StepCompensated = "StepCompensated";
    public const string CompensationFailed = "CompensationFailed";
    public const string CompensationRetryScheduled = "CompensationRetryScheduled";
    public const string CompensationTimedOut = "CompensationTimedOut";
    public const string ReplyIgnored = "ReplyIgnored";
    public const string SagaCompleted = "SagaCompleted";
    public const string SagaCompensated = "SagaCompensated";
    public const string SagaFailed = "SagaFailed";
    public const string SagaCancelled = "SagaCancelled";
    public const string CancelRequested = "CancelRequested";
    public const string SagaPaused = "SagaPaused";
    public const string SagaResumed = "SagaResumed";
    public const string ReplyDeferred = "ReplyDeferred";
    public const string RetryRequested = "RetryRequested";
    public const string CompensationSkipped = "CompensationSkipped";
    public const string SignalReceived = "SignalReceived";
    public const string DeadlineChanged = "DeadlineChanged";
    public const string WaitStarted = "WaitStarted";
    public const string WaitTimedOut = "WaitTimedOut";
    public const string SignalConsumed = "SignalConsumed";
    public const string StepHeartbeat = "StepHeartbeat";
}
