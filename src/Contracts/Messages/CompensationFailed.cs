namespace Sagas.Contracts;

/// <summary>Participant to coordinator: the compensation did not commit. Retryable ones are tried again; others fail the saga.</summary>
public sealed record CompensationFailed(Guid SagaId, string Step, int Attempt, bool Retryable, string Reason);
