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
