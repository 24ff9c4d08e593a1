using System.Text.Json;

namespace Sagas.Contracts;

/// <summary>Participant to coordinator: the action committed. <paramref name="Output"/> is merged into the saga data under the step's name.</summary>
public sealed record StepSucceeded(Guid SagaId, string Step, int Attempt, JsonElement? Output = null);
