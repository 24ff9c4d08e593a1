using System.Text.Json;

namespace Sagas.Contracts;

/// <summary>Starts a saga. <paramref name="SagaId"/> is the idempotency key: the same id twice runs one saga.</summary>
/// <param name="Version">Pins a definition version; null takes the newest registered one.</param>
/// <param name="Deadline">How long the whole saga may take before it compensates; overrides the definition's.</param>
public sealed record StartSaga(
    Guid SagaId,
    string Definition,
    JsonElement Data,
    int? Version = null,
    string? BusinessKey = null,
    string? Tenant = null,
    TimeSpan? Deadline = null);
