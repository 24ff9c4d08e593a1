using System.Text.Json.Serialization;

namespace Sagas.Coordinator.Engine;

[JsonConverter(typeof(JsonStringEnumConverter<SagaState>))]
public enum SagaState
{
    Running,
    Compensating,
    Paused,
    Completed,
    Compensated,
    Failed,
    Cancelled,
}

public static class SagaStateExtensions
{
    /// <summary>Terminal states never change except by an audited operator action.</summary>
    public static bool IsTerminal(this SagaState state) =>
        state is SagaState.Completed or SagaState.Compensated or SagaState.Failed or SagaState.Cancelled;
}
