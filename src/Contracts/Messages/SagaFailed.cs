namespace Sagas.Contracts;

/// <summary>A compensation could not be completed: the saga needs a person.</summary>
public sealed record SagaFailed(Guid SagaId, string Definition, int Version, string Reason, DateTimeOffset At);
