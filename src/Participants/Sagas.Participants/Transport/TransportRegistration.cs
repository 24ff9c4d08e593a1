using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

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
        bus.TryAddSingleton(options);
        if (options.ConsumerStopTimeout <= TimeSpan.Zero || options.StopTimeout < options.ConsumerStopTimeout)
        {
            throw new ArgumentException(
                $"{TransportOptions.Section}: ConsumerStopTimeout ({options.ConsumerStopTimeout}) must be positive and no longer than StopTimeout ({options.StopTimeout})",
                nameof(options));
        }

        // MassTransit passes these to every receive endpoint. Left unset, an endpoint whose channel dropped waits
        // forever for handlers that are themselves waiting on the dropped connection (seen in the chaos run).
        bus.AddOptions<MassTransitHostOptions>().Configure(host =>
        {
            host.ConsumerStopTimeout = options.ConsumerStopTimeout;
            host.StopTimeout = options.StopTimeout;
        });
        bus.PostConfigure<ParticipantReplyOptions>(reply =>
        {
            if (reply.ReplyAddress == ParticipantReplyOptions.DefaultReplyAddress)
            {
                reply.ReplyAddress = options.AddressOf(Contracts.Endpoints.Coordinator);
            }
        });

        switch (options.Kind)
        {
            case TransportKind.InMemory:
                bus.UsingInMemory((context, cfg) =>
                {
                    cfg.ConfigureJsonSerializerOptions(WithoutIndentation);
                    cfg.PrefetchCount = options.PrefetchCount;
                    cfg.ConcurrentMessageLimit = options.ConcurrentMessageLimit;
                    configure?.Invoke(context, cfg);
                    cfg.ConfigureEndpoints(context);
                });
                break;
            case TransportKind.RabbitMq:
                if (options.QuorumQueues)
                {
                    // Per receive endpoint: the bus's own temporary queue cannot be a quorum queue.
                    bus.AddConfigureEndpointsCallback((_, _, endpoint) =>
                    {
                        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
                        {
                            rabbit.SetQuorumQueue();
                        }
                    });
                }

                bus.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(options.RabbitMqUri, h =>
                    {
                        // Publisher confirms: a send completes only once the broker has the message.
                        h.PublisherConfirmation = true;
                        h.Heartbeat(TimeSpan.FromSeconds(10));
                    });
                    cfg.ConfigureJsonSerializerOptions(WithoutIndentation);
                    cfg.PrefetchCount = options.PrefetchCount;
                    cfg.ConcurrentMessageLimit = options.ConcurrentMessageLimit;
                    configure?.Invoke(context, cfg);
                    cfg.ConfigureEndpoints(context);
                });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Sagas:Transport:Kind must be InMemory or RabbitMq");
        }
    }

    /// <summary>
    /// MassTransit writes its JSON envelopes indented. The indentation was a third of a batch's bytes in a benchmark
    /// run (command batches 6.0 KB against 4.0 KB without it, reply batches 6.5 against 4.6), bytes the broker writes
    /// to disk and every consumer reads. Whitespace means nothing to a JSON reader, so a coordinator or participant of
    /// an earlier version, or one not written in .NET, reads these as before. The options are MassTransit's, shared by
    /// every bus in the process (MassTransit hands over a copy to change).
    /// </summary>
    internal static JsonSerializerOptions WithoutIndentation(JsonSerializerOptions options)
    {
        options.WriteIndented = false;
        return options;
    }
}
