using System.Text.Json;

namespace Sagas.Contracts;

/// <summary>Coordinator to participant: undo the step. May arrive without (or before) its action: a null compensation.</summary>
public sealed record CompensateStep(
    Guid SagaId,
    string Definition,
    int Version,
    string Step,
    string Compensation,
    int Attempt,
    JsonElement Data);
