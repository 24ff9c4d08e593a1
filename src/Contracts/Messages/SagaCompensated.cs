namespace Sagas.Contracts;

/// <summary>A step failed or timed out and every step that ran (or may have run) was undone.</summary>
public sealed record SagaCompensated(Guid SagaId, string Definition, int Version, string Reason, DateTimeOffset At);
