namespace Sagas.Contracts;

/// <summary>
/// Participant to coordinator: the action did not commit. A retryable failure is tried again after the
/// policy's back-off (or <paramref name="RetryAfter"/>, capped by the policy's maximum); a business failure
/// starts compensation at once.
/// </summary>
public sealed record StepFailed(
    Guid SagaId,
    string Step,
    int Attempt,
    bool Retryable,
    string Reason,
    TimeSpan? RetryAfter = null);
