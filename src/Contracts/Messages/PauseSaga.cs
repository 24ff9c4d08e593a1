namespace Sagas.Contracts;

/// <summary>Send no new commands for the saga until resumed; replies are still recorded.</summary>
public sealed record PauseSaga(Guid SagaId, string Reason, string Actor);
