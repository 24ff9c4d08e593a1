using System.Text.Json;

namespace Sagas.Contracts;

/// <summary>Coordinator to participant: run the step's action. Delivered at least once; attempts of one step share the barrier key (SagaId, Step).</summary>
public sealed record ExecuteStep(
    Guid SagaId,
    string Definition,
    int Version,
    string Step,
    string Action,
    int Attempt,
    JsonElement Data);
