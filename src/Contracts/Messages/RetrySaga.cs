namespace Sagas.Contracts;

/// <summary>Retry now a failed compensation, a step failed after the pivot, or a scheduled retry; Step picks one.</summary>
public sealed record RetrySaga(Guid SagaId, string Reason, string Actor, string? Step = null);
