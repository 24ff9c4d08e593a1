namespace Sagas.Participants;

/// <summary>
/// One action and its compensation in one participant. Both run inside the participant's local transaction
/// together with the barrier row, so a handler only writes through <see cref="StepContext.Db"/> and never commits.
/// Changes the handler leaves tracked in the context are saved with the barrier row, in the same round trip, when the
/// result is a success (or acceptance, or completed compensation): calling <c>SaveChangesAsync</c> is optional.
/// </summary>
public interface IStepHandler
{
    /// <summary>The action name carried by <c>ExecuteStep.Action</c>.</summary>
    string Action { get; }

    /// <summary>The compensation name carried by <c>CompensateStep.Compensation</c>; null when the action needs no undo.</summary>
    string? Compensation { get; }

    Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken);

    Task<CompensationResult> CompensateAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>Convenience base that hands the handler its own DbContext type.</summary>
public abstract class StepHandler<TDb> : IStepHandler
    where TDb : ParticipantDbContext
{
    public abstract string Action { get; }

    public abstract string? Compensation { get; }

    public Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken) =>
        ExecuteAsync(context, context.Db<TDb>(), cancellationToken);

    public Task<CompensationResult> CompensateAsync(StepContext context, CancellationToken cancellationToken) =>
        CompensateAsync(context, context.Db<TDb>(), cancellationToken);

    protected abstract Task<StepResult> ExecuteAsync(StepContext context, TDb db, CancellationToken cancellationToken);

    protected abstract Task<CompensationResult> CompensateAsync(StepContext context, TDb db, CancellationToken cancellationToken);
}
