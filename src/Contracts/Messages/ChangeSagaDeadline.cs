namespace Sagas.Contracts;

/// <summary>Move (or with null remove) the saga deadline.</summary>
public sealed record ChangeSagaDeadline(Guid SagaId, DateTimeOffset? DeadlineAt, string Reason, string Actor);
