using MassTransit;

namespace Sagas.Bench.Throughput.Peers.StateMachine;

/// <summary>order-fulfilment as a plain MassTransit state machine: reserve, charge, book, then publish OrderFinished.</summary>
public sealed class OrderStateMachine : MassTransitStateMachine<OrderState>
{
    public OrderStateMachine()
    {
        Event(() => Started, e => e.CorrelateById(c => c.Message.SagaId));
        Event(() => Reserved, e => e.CorrelateById(c => c.Message.SagaId));
        Event(() => Charged, e => e.CorrelateById(c => c.Message.SagaId));
        Event(() => Booked, e => e.CorrelateById(c => c.Message.SagaId));

        InstanceState(x => x.CurrentState);

        Initially(
            When(Started)
                .Send(StateMachineHost.Queue("inventory"), c => new ReserveStock(c.Saga.CorrelationId))
                .TransitionTo(Reserving));

        During(Reserving,
            When(Reserved)
                .Send(StateMachineHost.Queue("payments"), c => new ChargePayment(c.Saga.CorrelationId))
                .TransitionTo(Charging));

        During(Charging,
            When(Charged)
                .Send(StateMachineHost.Queue("shipping"), c => new BookShipment(c.Saga.CorrelationId))
                .TransitionTo(Booking));

        During(Booking,
            When(Booked)
                .Publish(c => new OrderFinished(c.Saga.CorrelationId, true))
                .Finalize());

        SetCompletedWhenFinalized();
    }

    public State Reserving { get; private set; } = null!;

    public State Charging { get; private set; } = null!;

    public State Booking { get; private set; } = null!;

    public Event<StartOrder> Started { get; private set; } = null!;

    public Event<StockReserved> Reserved { get; private set; } = null!;

    public Event<PaymentCharged> Charged { get; private set; } = null!;

    public Event<ShipmentBooked> Booked { get; private set; } = null!;
}
