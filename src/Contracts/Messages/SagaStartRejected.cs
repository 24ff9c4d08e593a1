namespace Sagas.Contracts;

/// <summary>A <see cref="StartSaga"/> that could not be accepted (unknown definition, invalid data); nothing was started.</summary>
public sealed record SagaStartRejected(Guid SagaId, string Definition, string Reason, DateTimeOffset At);
