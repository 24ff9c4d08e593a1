namespace Sagas.Bench.Throughput.Peers.Wolverine;

/// <summary>The three participants: write, then reply (the returned message is cascaded through the outbox).</summary>
public static class StepHandlers
{
    public static async Task<StockReserved> Handle(ReserveStock message, StepWriter writer, CancellationToken cancellationToken)
    {
        await writer.WriteAsync(message.SagaId, "reserve-stock", cancellationToken);
        return new StockReserved(message.SagaId);
    }

    public static async Task<PaymentCharged> Handle(ChargePayment message, StepWriter writer, CancellationToken cancellationToken)
    {
        await writer.WriteAsync(message.SagaId, "charge-payment", cancellationToken);
        return new PaymentCharged(message.SagaId);
    }

    public static async Task<ShipmentBooked> Handle(BookShipment message, StepWriter writer, CancellationToken cancellationToken)
    {
        await writer.WriteAsync(message.SagaId, "book-shipment", cancellationToken);
        return new ShipmentBooked(message.SagaId);
    }
}
