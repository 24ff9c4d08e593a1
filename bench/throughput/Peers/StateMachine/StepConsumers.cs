using MassTransit;

namespace Sagas.Bench.Throughput.Peers.StateMachine;

// One participant per step: write, then reply to the state machine's queue.
public sealed class ReserveStockConsumer(StepWriter writer) : IConsumer<ReserveStock>
{
    public async Task Consume(ConsumeContext<ReserveStock> context)
    {
        await writer.WriteAsync(context.Message.SagaId, "reserve-stock", context.CancellationToken);
        await context.Send(StateMachineHost.Queue(StateMachineHost.OrdersQueue), new StockReserved(context.Message.SagaId));
    }
}

public sealed class ChargePaymentConsumer(StepWriter writer) : IConsumer<ChargePayment>
{
    public async Task Consume(ConsumeContext<ChargePayment> context)
    {
        await writer.WriteAsync(context.Message.SagaId, "charge-payment", context.CancellationToken);
        await context.Send(StateMachineHost.Queue(StateMachineHost.OrdersQueue), new PaymentCharged(context.Message.SagaId));
    }
}

public sealed class BookShipmentConsumer(StepWriter writer) : IConsumer<BookShipment>
{
    public async Task Consume(ConsumeContext<BookShipment> context)
    {
        await writer.WriteAsync(context.Message.SagaId, "book-shipment", context.CancellationToken);
        await context.Send(StateMachineHost.Queue(StateMachineHost.OrdersQueue), new ShipmentBooked(context.Message.SagaId));
    }
}
