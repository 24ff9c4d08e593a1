namespace Sagas.Contracts;

/// <summary>Operator or service to coordinator: compensate what ran; the saga ends Cancelled.</summary>
public sealed record CancelSaga(Guid SagaId, string Reason, string Actor);
