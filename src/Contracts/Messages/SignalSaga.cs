using System.Text.Json;

namespace Sagas.Contracts;

/// <summary>A named outside event for a saga; the payload (a JSON object) merges into the saga data when a wait step takes it.</summary>
public sealed record SignalSaga(Guid SagaId, string Name, JsonElement? Payload, string Actor, string? Reason = null);
