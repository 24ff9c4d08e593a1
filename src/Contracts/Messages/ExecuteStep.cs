using System.Text.Json;

namespace Sagas.Contracts;

/// <summary>
/// Coordinator to participant: run the step's action. Delivered at least once; attempts of one step share the barrier
/// key (SagaId, Step). <paramref name="ExpiresAt"/> is when the coordinator stops waiting for this attempt (its step
/// timeout); the broker drops the command if it is still queued then, since a later attempt or the compensation
/// supersedes it.
/// </summary>
public sealed record ExecuteStep(
    Guid SagaId,
    string Definition,
    int Version,
    string Step,
    string Action,
    int Attempt,
    JsonElement Data,
    DateTimeOffset? ExpiresAt = null);
