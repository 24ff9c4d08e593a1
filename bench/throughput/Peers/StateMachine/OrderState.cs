using MassTransit;

namespace Sagas.Bench.Throughput.Peers.StateMachine;

public sealed class OrderState : SagaStateMachineInstance
{
    public Guid CorrelationId { get; set; }

    public string CurrentState { get; set; } = "";
}
