using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Sagas.Bench.Throughput.Peers.Courier;

/// <summary>MassTransit Courier: a consumer builds the routing slip, three activity hosts with compensations run it.</summary>
public static class CourierHost
{
    public const string OrdersQueue = "bench-courier-orders";

    public static void AddCourierPeer(this HostApplicationBuilder builder, PeerSettings settings)
    {
        var names = new KebabCaseEndpointNameFormatter("bench-courier", false);
        builder.Services.AddMassTransit(bus =>
        {
            bus.SetEndpointNameFormatter(names);
            bus.AddConsumer<StartOrderConsumer>().Endpoint(e => e.Name = OrdersQueue);
            bus.AddActivity<ReserveStockActivity, StepArguments, StepLog>();
            bus.AddActivity<ChargePaymentActivity, StepArguments, StepLog>();
            bus.AddActivity<BookShipmentActivity, StepArguments, StepLog>();
            bus.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(settings.RabbitMqUri, h => h.PublisherConfirmation = true);
                cfg.ConfigureJsonSerializerOptions(PeerSettings.WithoutIndentation);
                cfg.PrefetchCount = PeerSettings.PrefetchCount;
                cfg.ConcurrentMessageLimit = PeerSettings.ConcurrentMessageLimit;
                cfg.ConfigureEndpoints(context);
            });
        });
    }
}
