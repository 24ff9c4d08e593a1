namespace Sagas.Contracts;

/// <summary>Participant to coordinator: the compensation committed (or there was nothing to undo).</summary>
public sealed record StepCompensated(Guid SagaId, string Step, int Attempt);
