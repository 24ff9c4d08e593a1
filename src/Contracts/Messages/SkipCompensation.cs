namespace Sagas.Contracts;

/// <summary>Mark a failed or in-doubt compensation resolved by hand, so the rollback can go on.</summary>
public sealed record SkipCompensation(Guid SagaId, string Step, string Reason, string Actor);
