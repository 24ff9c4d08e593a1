using MassTransit;

namespace Sagas.Participants.Transport;

/// <summary>One place that configures the broker for the coordinator, the participants and the tests alike.</summary>
public static class TransportRegistration
{
    public static void UseSagasTransport(
        this IBusRegistrationConfigurator bus,
        TransportOptions options,
        Action<IBusRegistrationContext, IBusFactoryConfigurator>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(options);

        switch (options.Kind)
        {
            case TransportKind.InMemory:
                bus.UsingInMemory((context, cfg) =>
                {
                    cfg.PrefetchCount = options.PrefetchCount;
                    cfg.ConcurrentMessageLimit = options.ConcurrentMessageLimit;
                    configure?.Invoke(context, cfg);
                    cfg.ConfigureEndpoints(context);
                });
                break;
            case TransportKind.RabbitMq:
                bus.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(options.RabbitMqUri, h =>
                    {
                        // Publisher confirms: a send completes only once the broker has the message.
                        h.PublisherConfirmation = true;
                        h.Heartbeat(TimeSpan.FromSeconds(10));
                    });
                    cfg.PrefetchCount = options.PrefetchCount;
                    cfg.ConcurrentMessageLimit = options.ConcurrentMessageLimit;
                    if (options.QuorumQueues)
                    {
                        cfg.SetQuorumQueue();
                    }

                    configure?.Invoke(context, cfg);
                    cfg.ConfigureEndpoints(context);
                });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Sagas:Transport:Kind must be InMemory or RabbitMq");
        }
    }
}
