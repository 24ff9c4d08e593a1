using MassTransit;
using Sagas.Contracts;
using Sagas.Coordinator.Messaging;
using Sagas.Participants.Payloads;
using Sagas.Participants.Transport;

namespace Sagas.Coordinator.Hosting;

public static class MessagingRegistration
{
    /// <summary>The coordinator's queue, the outbox dispatcher, the timer poller and, in embedded mode, the sample participants.</summary>
    public static IHostApplicationBuilder AddSagasMessaging(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var sagas = builder.Configuration.GetSection(SagasOptions.Section).Get<SagasOptions>() ?? new SagasOptions();
        var transport = builder.Configuration.GetSection(TransportOptions.Section).Get<TransportOptions>() ?? new TransportOptions();
        var hostSamples = sagas.HostSampleParticipants ?? sagas.Mode == SagasMode.Embedded;
        if (sagas.Mode == SagasMode.Distributed && transport.Kind == TransportKind.InMemory && !hostSamples)
        {
            // The mode chooses neither the transport nor the database; left at their embedded values, the coordinator
            // would take starts and wait forever for participants that cannot hear it.
            throw new InvalidOperationException(
                "Sagas:Mode is Distributed, but Sagas:Transport:Kind is InMemory: no participant outside this process could receive a command. "
                + "Set Sagas:Transport:Kind to RabbitMq, with Sagas:Transport:RabbitMqUri (and Sagas:Database:Provider with ConnectionStrings:Sagas for a shared database), or use Mode Embedded.");
        }

        if (hostSamples)
        {
            builder.AddEmbeddedSampleParticipants();
        }

        builder.Services.AddMassTransit(bus =>
        {
            // Both consumers share the coordinator's queue; its limits are its own, not the participants'.
            void CoordinatorQueue(IEndpointRegistrationConfigurator e)
            {
                e.Name = Endpoints.Coordinator;
                e.ConcurrentMessageLimit = transport.CoordinatorConcurrentMessageLimit;
                e.PrefetchCount = transport.CoordinatorPrefetchCount;
            }

            bus.AddConsumer<CoordinatorConsumer, CoordinatorConsumerDefinition>().Endpoint(CoordinatorQueue);
            bus.AddConsumer<OperatorConsumer>(c => c.UseMessageRetry(r =>
                {
                    r.Exponential(8, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(200));
                    r.Ignore<PayloadCodecException>();
                }))
                .Endpoint(CoordinatorQueue);
            if (hostSamples)
            {
                bus.AddEmbeddedSampleConsumers();
            }

            bus.UseSagasTransport(transport);
        });

        builder.Services.AddSingleton<OutboxDispatcher>();
        builder.Services.AddSingleton<IOutboxSignal>(sp => sp.GetRequiredService<OutboxDispatcher>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OutboxDispatcher>());
        builder.Services.AddHostedService<TimerPoller>();
        return builder;
    }
}
