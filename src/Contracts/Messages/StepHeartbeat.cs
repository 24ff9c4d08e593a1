namespace Sagas.Contracts;

/// <summary>
/// Participant to coordinator: "accepted, still working" for long work. Each heartbeat pushes the attempt's
/// timeout to now + <paramref name="ExtendBy"/> (or the step's timeout); the final outcome follows as usual.
/// </summary>
public sealed record StepHeartbeat(Guid SagaId, string Step, int Attempt, TimeSpan? ExtendBy = null);
