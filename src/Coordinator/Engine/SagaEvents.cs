using Sagas.Contracts;

namespace Sagas.Coordinator.Engine;

/// <summary>An input to the Engine. Participant replies are the contract messages themselves.</summary>
public abstract record SagaEvent
{
    public static SagaEvent From(StepSucceeded m) => new Reply(m);

    public static SagaEvent From(StepFailed m) => new Reply(m);

    public static SagaEvent From(StepCompensated m) => new Reply(m);

    public static SagaEvent From(CompensationFailed m) => new Reply(m);

    public static SagaEvent From(StepHeartbeat m) => new Reply(m);

    /// <summary>A participant's reply.</summary>
    public sealed record Reply(object Message) : SagaEvent;

    /// <summary>The clock moved: fire whatever timers are due.</summary>
    public sealed record Tick : SagaEvent;

    /// <summary>An operator (or a service on the bus) acts on the saga.</summary>
    public sealed record Operator(OperatorCommand Command) : SagaEvent;
}
