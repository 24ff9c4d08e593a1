using Microsoft.EntityFrameworkCore;
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

    /// <summary>Commands of a failed shared transaction handled alone at once, at most.</summary>
    private const int AloneParallelism = 8;

    /// <summary>
    /// One shared transaction at a time per participant: two of them locking the same rows in different orders (two
    /// charges of one customer, say) would deadlock; a transaction of one command locks little and briefly.
    /// </summary>
    private readonly SemaphoreSlim _sharing = new(1, 1);

    /// <summary>0: not known yet; 1: PostgreSQL; 2: another database.</summary>
    private int _provider;

    public string Participant => registration.Name;

    public async Task<object?> ExecuteAsync(ExecuteStep message, CancellationToken cancellationToken) =>
        await ExecuteAsync(message, await DecideAsync(message, cancellationToken), claimFirst: false, cancellationToken);

    /// <summary>Checks the message (malformed: <see cref="ArgumentException"/>) and asks the fault hook about it, once.</summary>
    internal ValueTask<FaultDecision> DecideAsync(ExecuteStep message, CancellationToken cancellationToken)
    {
        Validate(message.SagaId, message.Step, message.Action);
        return faults.BeforeAsync(new FaultContext(Participant, message.SagaId, message.Step, message.Action, message.Attempt, false, message.Data), cancellationToken);
    }

    /// <summary>
    /// Whether a command with this decision may share its transaction with others (<see cref="ExecuteTogetherAsync"/>):
    /// a first attempt of a known action whose handler does not claim before running, on PostgreSQL, with no fault.
    /// </summary>
    internal bool MayShare(ExecuteStep message, FaultDecision decision) =>
        decision.Kind == FaultKind.None && message.Attempt == 1 && registration.Actions.ContainsKey(message.Action)
        && !registration.ClaimFirst.Contains(message.Action) && OnPostgres();

    /// <param name="claimFirst">True: the first try too claims the step's key before running (after a shared try failed).</param>
    internal async Task<object?> ExecuteAsync(ExecuteStep message, FaultDecision decision, bool claimFirst, CancellationToken cancellationToken)
    {
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
                async token => await Barrier<TDb>.ExecuteOnceAsync(Scope(), handlerType, message, Participant, ++tries == 1 && !claimFirst, token),
                cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Nothing committed: the coordinator's retry policy decides whether to try again.
            logger.LogError(ex, "Participant {Participant}: action {Action} of saga {SagaId} step {Step} attempt {Attempt} threw", Participant, message.Action, message.SagaId, message.Step, message.Attempt);
            return new StepFailed(message.SagaId, message.Step, message.Attempt, true, $"{ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>
    /// Commands that <see cref="MayShare"/> a transaction, run in one (<see cref="Barrier{TDb}.ExecuteTogetherAsync"/>):
    /// their replies, in order. When that try does not commit (a handler did not succeed, a duplicate took a key, the
    /// database failed) each command is handled alone, claiming first, as a late claim that failed is: nothing of the
    /// shared try remains and no command is lost or answered twice.
    /// </summary>
    internal async Task<object?[]> ExecuteTogetherAsync(IReadOnlyList<ExecuteStep> messages, CancellationToken cancellationToken)
    {
        var items = new (Type, ExecuteStep)[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            items[i] = (registration.Actions[messages[i].Action], messages[i]);
        }

        try
        {
            object[]? replies;
            await _sharing.WaitAsync(cancellationToken);
            try
            {
                replies = await Barrier<TDb>.ExecuteTogetherAsync(Scope(), items, Participant, cancellationToken);
            }
            finally
            {
                _sharing.Release();
            }

            if (replies is not null)
            {
                return replies;
            }

            logger.LogDebug("Participant {Participant}: {Count} actions did not all succeed in a shared transaction; each goes alone", Participant, messages.Count);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogDebug(ex, "Participant {Participant}: {Count} actions sharing a transaction failed; each goes alone", Participant, messages.Count);
        }

        var alone = new object?[messages.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = AloneParallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, messages.Count), parallel, async (i, ct) =>
            alone[i] = await ExecuteAsync(messages[i], FaultDecision.None, claimFirst: true, ct));
        return alone;
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

    /// <summary>Whether the participant's database is PostgreSQL, where a step's key can be written with its outcome.</summary>
    private bool OnPostgres()
    {
        if (_provider == 0)
        {
            using var scope = scopes.CreateScope();
            _provider = scope.ServiceProvider.GetRequiredService<TDb>().Database.IsNpgsql() ? 1 : 2;
        }

        return _provider == 1;
    }

    private static void Validate(Guid sagaId, string? step, string? name)
    {
        // Thrown to MassTransit, which moves the message to the error queue: there is nobody sensible to reply to.
        if (sagaId == Guid.Empty || string.IsNullOrWhiteSpace(step) || string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException($"Malformed step message: sagaId '{sagaId}', step '{step}', name '{name}'.");
        }
    }
}
