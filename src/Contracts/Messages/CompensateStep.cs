using System.Text.Json;

namespace Sagas.Contracts;

/// <summary>
/// Coordinator to participant: undo the step. May arrive without (or before) its action: a null compensation.
/// <paramref name="ExpiresAt"/>: as for <see cref="ExecuteStep"/>, when the coordinator stops waiting for this attempt.
/// </summary>
public sealed record CompensateStep(
    Guid SagaId,
    string Definition,
    int Version,
    string Step,
    string Compensation,
    int Attempt,
    JsonElement Data,
    DateTimeOffset? ExpiresAt = null);
