using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Contracts;

namespace Sagas.Participants;

public enum ReportStatus
{
    /// <summary>The outcome committed with the barrier row and the reply was sent.</summary>
    Reported,

    /// <summary>The outcome had been reported before; nothing changed, the original reply was sent again.</summary>
    AlreadyReported,

    /// <summary>The step was compensated while the work ran: nothing committed; stop the work.</summary>
    Refused,

    /// <summary>No accepted action for this saga and step here.</summary>
    NotAccepted,

    /// <summary>The finishing work asked for a retry: nothing committed, the action stays accepted.</summary>
    RetryLater,
}

/// <summary>What a report did, and the reply sent to the coordinator (if any).</summary>
public sealed record StepReport(ReportStatus Status, object? Reply);

/// <summary>
/// The later half of long work started by <see cref="StepResult.Accepted"/>: heartbeats while it runs, then the
/// outcome, committed with the barrier row in one local transaction and replied after the commit.
/// <para>
/// Rules: a compensation that arrives while the work is accepted wins (the action row becomes refused and the
/// handler's compensation runs), so a later <see cref="CompleteAsync"/> commits nothing and answers
/// <see cref="ReportStatus.Refused"/>; a completion that committed first is compensated normally. The replies
/// carry the latest attempt the coordinator sent (kept in the row), so a re-driven step still counts them.
/// </para>
/// </summary>
public sealed class StepReporter<TDb>(ParticipantRegistration<TDb> registration, IServiceScopeFactory scopes, IStepReplySender sender)
    where TDb : ParticipantDbContext
{
    private const string EffectSavepoint = "sagas_report_effect";

    public string Participant => registration.Name;

    /// <summary>
    /// Tells the coordinator the work is still running, moving the step's timeout by <paramref name="extendBy"/>
    /// (null: the extension given at acceptance). False when the work is no longer accepted (reported or
    /// compensated): stop working.
    /// </summary>
    public async Task<bool> HeartbeatAsync(Guid sagaId, string step, TimeSpan? extendBy = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDb>();
        var row = await FindActionAsync(db, sagaId, step, cancellationToken);
        if (row is not { Outcome: BarrierOutcomes.Accepted })
        {
            return false;
        }

        var work = AcceptedWork.FromRow(row);
        await sender.SendAsync(new StepHeartbeat(sagaId, step, work.Attempt, extendBy ?? work.ExtendBy), sagaId, cancellationToken);
        return true;
    }

    /// <summary>Reports success with <paramref name="output"/>, committing nothing else.</summary>
    public Task<StepReport> SucceedAsync(Guid sagaId, string step, object? output = null, CancellationToken cancellationToken = default) =>
        CompleteAsync(sagaId, step, (_, _) => Task.FromResult(output is null ? StepResult.Succeeded() : StepResult.SucceededWith(output)), cancellationToken);

    /// <summary>Reports a business failure: final; the saga compensates.</summary>
    public Task<StepReport> FailAsync(Guid sagaId, string step, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return CompleteAsync(sagaId, step, (_, _) => Task.FromResult(StepResult.BusinessFailure(reason)), cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="finish"/> (the effect, written through the given DbContext, never committed by it) and
    /// records its outcome in the same transaction as the barrier row, then sends the reply. A business failure
    /// rolls the effect back and keeps the verdict; a retryable one rolls everything back and leaves the work accepted.
    /// </summary>
    public async Task<StepReport> CompleteAsync(Guid sagaId, string step, Func<TDb, CancellationToken, Task<StepResult>> finish, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);
        ArgumentNullException.ThrowIfNull(finish);
        var report = await registration.Pipeline.ExecuteAsync(async token => await CompleteOnceAsync(sagaId, step, finish, token), cancellationToken);
        if (report.Reply is { } reply)
        {
            await sender.SendAsync(reply, sagaId, cancellationToken);
        }

        return report;
    }

    private async Task<StepReport> CompleteOnceAsync(Guid sagaId, string step, Func<TDb, CancellationToken, Task<StepResult>> finish, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDb>();
        using var gate = await SqliteWriteGate.EnterAsync(db, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var row = await FindActionAsync(db, sagaId, step, ct);
        switch (row?.Outcome)
        {
            case null:
                return new StepReport(ReportStatus.NotAccepted, null);
            case BarrierOutcomes.Refused:
                return new StepReport(ReportStatus.Refused, null);
            case BarrierOutcomes.Succeeded:
                // A report that committed but whose reply may have been lost: say it again (same attempt rule).
                return new StepReport(ReportStatus.AlreadyReported, new StepSucceeded(sagaId, step, LastAttempt(row), Parse(row.Output)));
            case BarrierOutcomes.Failed:
                return new StepReport(ReportStatus.AlreadyReported, new StepFailed(sagaId, step, LastAttempt(row), false, row.Reason ?? "failed"));
            case BarrierOutcomes.Accepted:
                break;
            default:
                throw new BarrierConflictException($"Barrier row for saga {sagaId} step {step} has outcome '{row.Outcome}'.");
        }

        var work = AcceptedWork.FromRow(row);

        // Claim the row first: this blocks (PostgreSQL) a concurrent compensation until we commit, after which its
        // own conditional update finds nothing and it compensates the committed outcome instead.
        var claimed = await db.Barrier
            .Where(b => b.SagaId == sagaId && b.Step == step && b.Op == BarrierOps.Action && b.Outcome == BarrierOutcomes.Accepted)
            .ExecuteUpdateAsync(u => u.SetProperty(b => b.Reason, "reporting"), ct);
        if (claimed == 0)
        {
            throw new BarrierConflictException($"Accepted work of saga {sagaId} step {step} changed while reporting.");
        }

        await tx.CreateSavepointAsync(EffectSavepoint, ct);
        var result = await finish(db, ct);
        switch (result.Outcome)
        {
            case StepOutcome.Succeeded:
                await db.SaveChangesAsync(ct);
                var output = result.Output is { } o ? o.GetRawText() : null;
                await db.Barrier
                    .Where(b => b.SagaId == sagaId && b.Step == step && b.Op == BarrierOps.Action)
                    .ExecuteUpdateAsync(u => u.SetProperty(b => b.Outcome, BarrierOutcomes.Succeeded).SetProperty(b => b.Output, output).SetProperty(b => b.Reason, (string?)null), ct);
                await tx.CommitAsync(ct);
                return new StepReport(ReportStatus.Reported, new StepSucceeded(sagaId, step, work.Attempt, result.Output));

            case StepOutcome.BusinessFailure:
                await tx.RollbackToSavepointAsync(EffectSavepoint, ct);
                db.ChangeTracker.Clear();

                // The attempt stays in output so a re-sent failure carries it.
                await db.Barrier
                    .Where(b => b.SagaId == sagaId && b.Step == step && b.Op == BarrierOps.Action)
                    .ExecuteUpdateAsync(u => u.SetProperty(b => b.Outcome, BarrierOutcomes.Failed).SetProperty(b => b.Reason, result.Reason), ct);
                await tx.CommitAsync(ct);
                return new StepReport(ReportStatus.Reported, new StepFailed(sagaId, step, work.Attempt, false, result.Reason!));

            case StepOutcome.RetryableFailure:
                await tx.RollbackAsync(ct);
                return new StepReport(ReportStatus.RetryLater, null);

            default:
                throw new InvalidOperationException("Accepted work cannot be accepted again; report Succeeded, BusinessFailure or RetryableFailure.");
        }
    }

    /// <summary>A succeeded row's output is the real output, so its attempt is unknown: 1 is always accepted for a success.</summary>
    private static int LastAttempt(BarrierRow row) =>
        row.Outcome == BarrierOutcomes.Failed && row.Output is not null ? AcceptedWork.FromRow(row).Attempt : 1;

    private static JsonElement? Parse(string? output)
    {
        if (output is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(output);
        return document.RootElement.Clone();
    }

    private static Task<BarrierRow?> FindActionAsync(TDb db, Guid sagaId, string step, CancellationToken ct) =>
        db.Barrier.AsNoTracking().FirstOrDefaultAsync(b => b.SagaId == sagaId && b.Step == step && b.Op == BarrierOps.Action, ct);
}
