namespace Sagas.Contracts;

/// <summary>An operator cancelled the saga and every step that ran (or may have run) was undone.</summary>
public sealed record SagaCancelled(Guid SagaId, string Definition, int Version, string Reason, DateTimeOffset At);
