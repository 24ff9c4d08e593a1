using Wolverine;

namespace Sagas.Bench.Throughput.Peers.Wolverine;

/// <summary>order-fulfilment as a Wolverine saga, stored in PostgreSQL; each handler's cascaded message is its next command.</summary>
public sealed class OrderSaga : Saga
{
    public Guid Id { get; set; }

    public string Stage { get; set; } = "";

    public static (OrderSaga, ReserveStock) Start(StartOrder message) =>
        (new OrderSaga { Id = message.SagaId, Stage = "reserving" }, new ReserveStock(message.SagaId));

    public ChargePayment Handle(StockReserved message)
    {
        Stage = "charging";
        return new ChargePayment(message.SagaId);
    }

    public BookShipment Handle(PaymentCharged message)
    {
        Stage = "booking";
        return new BookShipment(message.SagaId);
    }

    public OrderFinished Handle(ShipmentBooked message)
    {
        MarkCompleted();
        return new OrderFinished(message.SagaId, true);
    }
}
