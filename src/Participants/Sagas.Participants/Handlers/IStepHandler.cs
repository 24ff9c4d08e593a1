namespace Sagas.Participants;

/// <summary>
/// One action and its compensation in one participant. Both run inside the participant's local transaction
/// together with the barrier row, so a handler only writes through <see cref="StepContext.Db"/> and never commits.
/// Changes the handler leaves tracked in the context are saved with the barrier row, in the same round trip, when the
/// result is a success (or acceptance, or completed compensation): calling <c>SaveChangesAsync</c> is optional.
/// <para>On PostgreSQL that transaction may hold the first attempts of other commands of the same batch too
/// (<see cref="ParticipantBatchOptions.MaxPerTransaction"/>): their handlers then run one after another on one context
/// and one scope, so a scoped handler or service can serve several commands in turn (never two at once). A handler
/// must not clear the context's change tracker or commit; if any of them does not succeed, the shared try rolls back
/// and each command runs again alone.</para>
/// </summary>
public interface IStepHandler
{
    /// <summary>The action name carried by <c>ExecuteStep.Action</c>.</summary>
    string Action { get; }

    /// <summary>The compensation name carried by <c>CompensateStep.Compensation</c>; null when the action needs no undo.</summary>
    string? Compensation { get; }

    /// <summary>
    /// True when the action has effects outside its database transaction (it calls an API, sends mail, starts a job
    /// elsewhere): the barrier then claims the step's key before the action runs, so a delivery that finds the step
    /// recorded, or being recorded, never runs it (a try that failed before its commit still runs again on a retry).
    /// False (the default): on PostgreSQL the first attempt runs at once and its key is written with its outcome, one
    /// round trip fewer; a duplicate of that attempt may then run the action too, but only one of them commits (the
    /// other's writes roll back and it replies from the committed row).
    /// </summary>
    bool ClaimBeforeRunning => false;

    Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken);

    Task<CompensationResult> CompensateAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>Convenience base that hands the handler its own DbContext type.</summary>
public abstract class StepHandler<TDb> : IStepHandler
    where TDb : ParticipantDbContext
{
    public abstract string Action { get; }

    public abstract string? Compensation { get; }

    /// <inheritdoc cref="IStepHandler.ClaimBeforeRunning"/>
    public virtual bool ClaimBeforeRunning => false;

    public Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken) =>
        ExecuteAsync(context, context.Db<TDb>(), cancellationToken);

    public Task<CompensationResult> CompensateAsync(StepContext context, CancellationToken cancellationToken) =>
        CompensateAsync(context, context.Db<TDb>(), cancellationToken);

    protected abstract Task<StepResult> ExecuteAsync(StepContext context, TDb db, CancellationToken cancellationToken);

    protected abstract Task<CompensationResult> CompensateAsync(StepContext context, TDb db, CancellationToken cancellationToken);
}
