namespace Sagas.Contracts;

/// <summary>An operator action that did not fit the saga's state (or named no saga); nothing was applied.</summary>
public sealed record OperatorActionRejected(Guid SagaId, string Action, string Reason, DateTimeOffset At);
