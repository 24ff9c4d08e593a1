using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sagas.Contracts;

namespace Sagas.Participants;

/// <summary>
/// Turns at-least-once deliveries into exactly-once effects: fault hook, handler lookup and in-process retries
/// around <see cref="Barrier{TDb}"/>. Returns the reply to send, or null when a fault says to stay silent.
/// Usable without a broker, which is how the barrier is tested.
/// </summary>
public sealed class StepDispatcher<TDb>(
    ParticipantRegistration<TDb> registration,
    IServiceScopeFactory scopes,
    IParticipantFaults faults,
    ILogger<StepDispatcher<TDb>> logger)
    where TDb : ParticipantDbContext
{
    public const string RefusedReason = "refused: compensated before the action ran";

    /// <summary>Reason kept on an accepted action whose compensation came before its outcome was reported.</summary>
    public const string CompensatedWhileAcceptedReason = "refused: compensated while the accepted work was still running";

    public string Participant => registration.Name;

    public async Task<object?> ExecuteAsync(ExecuteStep message, CancellationToken cancellationToken)
    {
        Validate(message.SagaId, message.Step, message.Action);
        var decision = await faults.BeforeAsync(new FaultContext(Participant, message.SagaId, message.Step, message.Action, message.Attempt, false, message.Data), cancellationToken);
        switch (decision.Kind)
        {
            case FaultKind.Drop:
                logger.LogWarning("Fault injection: dropping {Action} of saga {SagaId} step {Step} attempt {Attempt}", message.Action, message.SagaId, message.Step, message.Attempt);
                return null;
            case FaultKind.Hold:
                await decision.Release!.WaitAsync(cancellationToken);
                break;
            case FaultKind.FailAction:
                return new StepFailed(message.SagaId, message.Step, message.Attempt, decision.Retryable, decision.Reason ?? "injected failure", decision.RetryAfter);
        }

        if (!registration.Actions.TryGetValue(message.Action, out var handlerType))
        {
            return new StepFailed(message.SagaId, message.Step, message.Attempt, false, $"unknown action '{message.Action}' at participant '{Participant}'");
        }

        try
        {
            var tries = 0;
            return await registration.Pipeline.ExecuteAsync(
                async token => await Barrier<TDb>.ExecuteOnceAsync(Scope(), handlerType, message, Participant, ++tries == 1, token),
                cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Nothing committed: the coordinator's retry policy decides whether to try again.
            logger.LogError(ex, "Participant {Participant}: action {Action} of saga {SagaId} step {Step} attempt {Attempt} threw", Participant, message.Action, message.SagaId, message.Step, message.Attempt);
            return new StepFailed(message.SagaId, message.Step, message.Attempt, true, $"{ex.GetType().Name}: {ex.Message}");
        }
    }

    public async Task<object?> CompensateAsync(CompensateStep message, CancellationToken cancellationToken)
    {
        Validate(message.SagaId, message.Step, message.Compensation);
        var decision = await faults.BeforeAsync(new FaultContext(Participant, message.SagaId, message.Step, message.Compensation, message.Attempt, true, message.Data), cancellationToken);
        switch (decision.Kind)
        {
            case FaultKind.Drop:
                logger.LogWarning("Fault injection: dropping {Compensation} of saga {SagaId} step {Step} attempt {Attempt}", message.Compensation, message.SagaId, message.Step, message.Attempt);
                return null;
            case FaultKind.Hold:
                await decision.Release!.WaitAsync(cancellationToken);
                break;
            case FaultKind.FailAction:
            case FaultKind.FailCompensation:
                return new CompensationFailed(message.SagaId, message.Step, message.Attempt, decision.Retryable, decision.Reason ?? "injected failure");
        }

        if (!registration.Compensations.TryGetValue(message.Compensation, out var handlerType))
        {
            return new CompensationFailed(message.SagaId, message.Step, message.Attempt, false, $"unknown compensation '{message.Compensation}' at participant '{Participant}'");
        }

        try
        {
            return await registration.Pipeline.ExecuteAsync(
                async token => await Barrier<TDb>.CompensateOnceAsync(Scope(), handlerType, message, Participant, token),
                cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogError(ex, "Participant {Participant}: compensation {Compensation} of saga {SagaId} step {Step} attempt {Attempt} threw", Participant, message.Compensation, message.SagaId, message.Step, message.Attempt);
            return new CompensationFailed(message.SagaId, message.Step, message.Attempt, true, $"{ex.GetType().Name}: {ex.Message}");
        }
    }

    private AsyncServiceScope Scope() => scopes.CreateAsyncScope();

    private static void Validate(Guid sagaId, string? step, string? name)
    {
        // Thrown to MassTransit, which moves the message to the error queue: there is nobody sensible to reply to.
        if (sagaId == Guid.Empty || string.IsNullOrWhiteSpace(step) || string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException($"Malformed step message: sagaId '{sagaId}', step '{step}', name '{name}'.");
        }
    }
}
