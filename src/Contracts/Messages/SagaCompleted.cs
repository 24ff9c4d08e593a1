namespace Sagas.Contracts;

/// <summary>Every step succeeded.</summary>
public sealed record SagaCompleted(Guid SagaId, string Definition, int Version, DateTimeOffset At);
