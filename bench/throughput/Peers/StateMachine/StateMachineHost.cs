using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Sagas.Bench.Throughput.Peers.StateMachine;

/// <summary>The state machine with MassTransit's in-memory saga repository (not durable) and its three participants, over RabbitMQ.</summary>
public static class StateMachineHost
{
    public const string OrdersQueue = "orders";
    public const string Prefix = "bench-inmemory-";

    public static Uri Queue(string name) => new($"queue:{Prefix}{name}");

    public static void AddStateMachinePeer(this HostApplicationBuilder builder, PeerSettings settings)
    {
        builder.Services.AddMassTransit(bus =>
        {
            bus.AddSagaStateMachine<OrderStateMachine, OrderState>().InMemoryRepository();
            bus.AddConsumer<ReserveStockConsumer>();
            bus.AddConsumer<ChargePaymentConsumer>();
            bus.AddConsumer<BookShipmentConsumer>();
            bus.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(settings.RabbitMqUri, h => h.PublisherConfirmation = true);
                cfg.ConfigureJsonSerializerOptions(PeerSettings.WithoutIndentation);
                cfg.PrefetchCount = PeerSettings.PrefetchCount;
                cfg.ConcurrentMessageLimit = PeerSettings.ConcurrentMessageLimit;
                cfg.ReceiveEndpoint(Prefix + OrdersQueue, e => e.ConfigureSaga<OrderState>(context));
                cfg.ReceiveEndpoint(Prefix + "inventory", e => e.ConfigureConsumer<ReserveStockConsumer>(context));
                cfg.ReceiveEndpoint(Prefix + "payments", e => e.ConfigureConsumer<ChargePaymentConsumer>(context));
                cfg.ReceiveEndpoint(Prefix + "shipping", e => e.ConfigureConsumer<BookShipmentConsumer>(context));
            });
        });
    }
}
