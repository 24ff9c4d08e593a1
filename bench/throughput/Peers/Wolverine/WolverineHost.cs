using JasperFx.Resources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Wolverine;
using Wolverine.Postgresql;
using Wolverine.RabbitMQ;

namespace Sagas.Bench.Throughput.Peers.Wolverine;

/// <summary>
/// The Wolverine saga with PostgreSQL durability: saga state and the durable inbox/outbox of every RabbitMQ
/// endpoint in one PostgreSQL database, publisher confirms on. Every hop goes through RabbitMQ (explicit routes).
/// </summary>
public static class WolverineHost
{
    public const string OrdersQueue = "bench-wolverine-orders";
    public const string FinishedExchange = "bench-wolverine-finished";
    private const string SagaQueue = "bench-wolverine-saga";

    public static void AddWolverinePeer(this HostApplicationBuilder builder, PeerSettings settings)
    {
        builder.UseWolverine(opts =>
        {
            opts.UseRuntimeCompilation();
            opts.Discovery.DisableConventionalDiscovery().IncludeType<OrderSaga>().IncludeType(typeof(StepHandlers));
            opts.PersistMessagesWithPostgresql(settings.StoreConnectionString, "wolverine");
            opts.UseRabbitMq(settings.RabbitMqUri)
                .AutoProvision()
                .ConfigureChannelCreation(o =>
                {
                    o.PublisherConfirmationsEnabled = true;
                    o.PublisherConfirmationTrackingEnabled = true;
                });

            opts.ListenToRabbitQueue(OrdersQueue).DefaultIncomingMessage<StartOrder>();
            opts.ListenToRabbitQueue(SagaQueue);
            opts.ListenToRabbitQueue("bench-wolverine-inventory");
            opts.ListenToRabbitQueue("bench-wolverine-payments");
            opts.ListenToRabbitQueue("bench-wolverine-shipping");

            opts.PublishMessage<ReserveStock>().ToRabbitQueue("bench-wolverine-inventory");
            opts.PublishMessage<ChargePayment>().ToRabbitQueue("bench-wolverine-payments");
            opts.PublishMessage<BookShipment>().ToRabbitQueue("bench-wolverine-shipping");
            opts.PublishMessage<StockReserved>().ToRabbitQueue(SagaQueue);
            opts.PublishMessage<PaymentCharged>().ToRabbitQueue(SagaQueue);
            opts.PublishMessage<ShipmentBooked>().ToRabbitQueue(SagaQueue);
            opts.PublishMessage<OrderFinished>().ToRabbitExchange(FinishedExchange);

            opts.Policies.UseDurableInboxOnAllListeners();
            opts.Policies.UseDurableOutboxOnAllSendingEndpoints();
        });
        builder.Services.AddResourceSetupOnStartup();
    }
}
