using MassTransit;
using Sagas.Contracts;

namespace Sagas.Coordinator.Telemetry;

/// <summary>
/// Puts <c>SagaId</c> and <c>Step</c> in a logger scope around every message consumed in this process (coordinator
/// and in-process participants), so each log line of a consumer names its saga. Registered for every receive endpoint
/// through <see cref="IConfigureReceiveEndpoint"/>.
/// </summary>
public sealed class SagaLogScopeFilter(ILogger logger) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        using var scope = Identify(context) is { } saga ? SagasDiagnostics.BeginSagaScope(logger, saga.SagaId, saga.Step) : null;
        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("sagaLogScope");

    private static (Guid SagaId, string? Step)? Identify(ConsumeContext context)
    {
        object? message = context.TryGetMessage<ExecuteStep>(out var execute) ? execute.Message
            : context.TryGetMessage<CompensateStep>(out var compensate) ? compensate.Message
            : context.TryGetMessage<StepSucceeded>(out var succeeded) ? succeeded.Message
            : context.TryGetMessage<StepFailed>(out var failed) ? failed.Message
            : context.TryGetMessage<StepCompensated>(out var compensated) ? compensated.Message
            : context.TryGetMessage<CompensationFailed>(out var compensationFailed) ? compensationFailed.Message
            : null;
        var step = message is null ? null : SagasDiagnostics.StepOf(message).Step;
        var sagaId = message switch
        {
            ExecuteStep m => m.SagaId,
            CompensateStep m => m.SagaId,
            StepSucceeded m => m.SagaId,
            StepFailed m => m.SagaId,
            StepCompensated m => m.SagaId,
            CompensationFailed m => m.SagaId,
            _ => Guid.TryParse(context.Headers.Get<string>(Endpoints.SagaIdHeader), out var id) ? id : (Guid?)null,
        };
        return sagaId is { } found ? (found, step) : null;
    }
}

/// <summary>Adds <see cref="SagaLogScopeFilter"/> to every receive endpoint.</summary>
public sealed class SagaLogScopeEndpointConfigurator(ILoggerFactory loggers) : IConfigureReceiveEndpoint
{
    public void Configure(string name, IReceiveEndpointConfigurator configurator) =>
        configurator.UseFilter(new SagaLogScopeFilter(loggers.CreateLogger("Sagas.Messaging")));
}
