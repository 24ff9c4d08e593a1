namespace Sagas.Participants;

/// <summary>
/// Test hook consulted before every action and compensation, before the barrier. The default does nothing;
/// chaos and integration tests register <see cref="ScriptedParticipantFaults"/> to misbehave on purpose.
/// </summary>
public interface IParticipantFaults
{
    ValueTask<FaultDecision> BeforeAsync(FaultContext context, CancellationToken cancellationToken);
}

/// <summary>The delivery a fault decision is taken for. <see cref="Name"/> is the action or compensation name; <see cref="Data"/> the command's saga data.</summary>
public sealed record FaultContext(string Participant, Guid SagaId, string Step, string Name, int Attempt, bool IsCompensation, System.Text.Json.JsonElement? Data = null);

public enum FaultKind
{
    None,

    /// <summary>No effect and no reply: a participant that never answers.</summary>
    Drop,

    /// <summary>Wait for <see cref="FaultDecision.Release"/>, then process normally: a late delivery.</summary>
    Hold,

    /// <summary>Reply StepFailed(retryable) without touching the database.</summary>
    FailAction,

    /// <summary>Reply CompensationFailed without touching the database.</summary>
    FailCompensation,
}

public sealed record FaultDecision(FaultKind Kind, Task? Release = null, string? Reason = null, bool Retryable = true, TimeSpan? RetryAfter = null)
{
    public static FaultDecision None { get; } = new(FaultKind.None);

    public static FaultDecision Drop { get; } = new(FaultKind.Drop);

    public static FaultDecision HoldUntil(Task release) => new(FaultKind.Hold, release ?? throw new ArgumentNullException(nameof(release)));

    public static FaultDecision FailAction(string reason = "injected transient failure", TimeSpan? retryAfter = null) =>
        new(FaultKind.FailAction, Reason: reason, Retryable: true, RetryAfter: retryAfter);

    public static FaultDecision FailCompensation(bool retryable, string reason = "injected compensation failure") =>
        new(FaultKind.FailCompensation, Reason: reason, Retryable: retryable);
}

/// <summary>The production default: never interferes.</summary>
public sealed class NoParticipantFaults : IParticipantFaults
{
    public ValueTask<FaultDecision> BeforeAsync(FaultContext context, CancellationToken cancellationToken) => ValueTask.FromResult(FaultDecision.None);
}
