namespace Sagas.Contracts;

/// <summary>Resume a paused saga; replies that arrived while paused are applied in order.</summary>
public sealed record ResumeSaga(Guid SagaId, string Reason, string Actor);
