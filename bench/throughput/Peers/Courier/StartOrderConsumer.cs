using MassTransit;
using MassTransit.Courier.Contracts;

namespace Sagas.Bench.Throughput.Peers.Courier;

/// <summary>Turns a start into a routing slip of the three activities; only its end (completed or faulted) goes to the driver.</summary>
public sealed class StartOrderConsumer(IEndpointNameFormatter names) : IConsumer<StartOrder>
{
    public async Task Consume(ConsumeContext<StartOrder> context)
    {
        var sagaId = context.Message.SagaId;
        var slip = new RoutingSlipBuilder(sagaId);
        slip.AddActivity("reserve-stock", Execute<ReserveStockActivity>(), new { SagaId = sagaId });
        slip.AddActivity("charge-payment", Execute<ChargePaymentActivity>(), new { SagaId = sagaId });
        slip.AddActivity("book-shipment", Execute<BookShipmentActivity>(), new { SagaId = sagaId });
        // A subscription replaces the default publish of every routing-slip event (one per activity too).
        slip.AddSubscription(new Uri($"queue:{Load.LoadDriver.TerminalQueue}"), RoutingSlipEvents.Completed | RoutingSlipEvents.Faulted);
        await context.Execute(slip.Build());
    }

    private Uri Execute<TActivity>()
        where TActivity : class, IExecuteActivity<StepArguments> => new($"queue:{names.ExecuteActivity<TActivity, StepArguments>()}");
}
