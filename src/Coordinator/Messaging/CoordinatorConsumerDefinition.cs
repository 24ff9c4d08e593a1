using MassTransit;
using Sagas.Contracts;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Messaging;

/// <summary>
/// How the coordinator's queue rides out trouble. Transient database errors are retried in place with
/// back-off; when most messages fail (the database is down) the kill switch stops consuming for a while,
/// so an outage slows the coordinator down instead of moving replies to the error queue or flooding the log.
/// </summary>
public sealed class CoordinatorConsumerDefinition : ConsumerDefinition<CoordinatorConsumer>
{
    public CoordinatorConsumerDefinition() => EndpointName = Endpoints.Coordinator;

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<CoordinatorConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        ArgumentNullException.ThrowIfNull(consumerConfigurator);
        endpointConfigurator.UseKillSwitch(options => options
            .SetActivationThreshold(10)
            .SetTripThreshold(0.5)
            .SetRestartTimeout(s: 10)
            .SetExceptionFilter(f => f.Ignore(typeof(UnknownSagaException), typeof(PayloadCodecException))));
        consumerConfigurator.UseMessageRetry(r =>
        {
            r.Exponential(12, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(300));
            r.Ignore<UnknownSagaException>();

            // An undecodable payload (unknown key id, altered ciphertext, missing claim) stays undecodable: straight to the error queue.
            r.Ignore<PayloadCodecException>();
        });
    }
}
