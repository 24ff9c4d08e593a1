using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Contracts;

namespace Sagas.Participants;

/// <summary>
/// One try of the barrier protocol in one local transaction. Normally the barrier row is inserted before the handler
/// runs, so that a concurrent duplicate blocks on (PostgreSQL) or queues behind (SQLite) the key, then finds the
/// committed row and replies from it. On PostgreSQL the first try of a step's first attempt writes the row only with
/// its outcome, in the save that commits (a "late claim", one round trip and one statement fewer); a duplicate racing
/// it then fails on the key at that save, its writes roll back, and its next try claims first.
/// </summary>
internal static class Barrier<TDb>
    where TDb : ParticipantDbContext
{
    /// <param name="firstTry">False on the in-process retries of a delivery: those always claim first.</param>
    public static async Task<object> ExecuteOnceAsync(AsyncServiceScope scope, Type handlerType, ExecuteStep message, string participant, bool firstTry, CancellationToken ct)
    {
        await using var _ = scope;
        var db = Open(scope);
        using var gate = await SqliteWriteGate.EnterAsync(db, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);

        var handler = (IStepHandler)scope.ServiceProvider.GetRequiredService(handlerType);
        var row = NewRow(message.SagaId, message.Step, BarrierOps.Action, BarrierOutcomes.Pending);
        var claimLate = ClaimsLate(db, handler, message, firstTry);
        if (!claimLate && !await TryClaimAsync(db, row, ct))
        {
            // A delivery before this one committed the key: reply from its row without running the handler.
            var existing = await FindAsync(db, message.SagaId, message.Step, BarrierOps.Action, ct)
                ?? throw new BarrierConflictException($"Barrier row for saga {message.SagaId} step {message.Step} was claimed but cannot be read.");
            if (existing.Outcome == BarrierOutcomes.Accepted)
            {
                return await RecordNewerAttemptAsync(db, tx, existing, message, ct);
            }

            return ReplyFrom(existing, message);
        }

        var context = new StepContext(participant, message.SagaId, message.Definition, message.Version, message.Step, message.Attempt, message.Data, db, scope.ServiceProvider);
        StepResult result;
        try
        {
            result = await handler.ExecuteAsync(context, ct);
        }
        catch (Exception ex) when (claimLate && !ct.IsCancellationRequested)
        {
            throw LateClaimFailed(message, ex);
        }

        switch (result.Outcome)
        {
            case StepOutcome.Succeeded:
                row.Outcome = BarrierOutcomes.Succeeded;
                row.Output = result.Output is { } output ? output.GetRawText() : null;
                await SaveAndCommitAsync(db, tx, row, claimLate, message, ct);
                return ReplyFrom(row, message);

            case StepOutcome.BusinessFailure:
                // Keep the verdict, drop whatever the handler wrote before deciding to fail: the try rolls back as a
                // whole (no savepoint: a subtransaction costs every step, and failures are rare) and the verdict is
                // written on its own. A delivery that recorded the step in between wins: the next try replies from its row.
                await tx.RollbackAsync(ct);
                db.ChangeTracker.Clear();
                row.Outcome = BarrierOutcomes.Failed;
                row.Reason = result.Reason;
                if (await InsertAsync(db, row, ct) == 0)
                {
                    throw new BarrierConflictException($"Saga {message.SagaId} step {message.Step} was recorded by another delivery meanwhile.");
                }

                return ReplyFrom(row, message);

            case StepOutcome.Accepted:
                // The handler's writes so far (a job row, a hold) commit with the acceptance; the outcome comes later.
                row.Outcome = BarrierOutcomes.Accepted;
                row.Output = new AcceptedWork(message.Attempt, result.ExtendBy).ToJson();
                await SaveAndCommitAsync(db, tx, row, claimLate, message, ct);
                return new StepHeartbeat(message.SagaId, message.Step, message.Attempt, result.ExtendBy);

            default:
                await tx.RollbackAsync(ct);
                return new StepFailed(message.SagaId, message.Step, message.Attempt, true, result.Reason!, result.RetryAfter);
        }
    }

    /// <summary>
    /// The first tries of several first attempts (PostgreSQL, handlers that do not claim before running) in one
    /// transaction: each handler in turn on one context, then every step's barrier row with its outcome, saved with the
    /// handlers' rows and committed in one round trip. It is <see cref="ExecuteOnceAsync"/>'s late claim, shared: one
    /// commit (one WAL flush, one round trip) for them all. All or nothing: only when every handler succeeded does
    /// anything commit, and null (nothing written) otherwise; a failing save (a duplicate took a key meanwhile) throws,
    /// with nothing committed. Either way the caller then handles each command alone, claiming first.
    /// </summary>
    /// <remarks>The handlers share the scope: a handler registered once serves its commands in turn, never at once.</remarks>
    public static async Task<object[]?> ExecuteTogetherAsync(AsyncServiceScope scope, IReadOnlyList<(Type HandlerType, ExecuteStep Message)> items, string participant, CancellationToken ct)
    {
        await using var _ = scope;
        var db = Open(scope);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var rows = new BarrierRow[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var (handlerType, message) = items[i];
            var handler = (IStepHandler)scope.ServiceProvider.GetRequiredService(handlerType);
            var context = new StepContext(participant, message.SagaId, message.Definition, message.Version, message.Step, message.Attempt, message.Data, db, scope.ServiceProvider);
            var result = await handler.ExecuteAsync(context, ct);
            if (result.Outcome != StepOutcome.Succeeded)
            {
                // A failure keeps its verdict alone, and an acceptance its own row; neither goes in a shared commit.
                return null;
            }

            rows[i] = NewRow(message.SagaId, message.Step, BarrierOps.Action, BarrierOutcomes.Succeeded);
            rows[i].Output = result.Output is { } output ? output.GetRawText() : null;
        }

        db.Barrier.AddRange(rows);
        await CommitWithSave.SaveAndCommitAsync(db, tx, rows[0], ct);
        var replies = new object[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            replies[i] = ReplyFrom(rows[i], items[i].Message);
        }

        return replies;
    }

    /// <summary>
    /// Whether this try runs the handler before its key is written. Only on PostgreSQL, where the claim is a round trip
    /// of its own; only for the first try of attempt 1, since a later attempt or a retry is the likely duplicate (the
    /// coordinator re-sends with a higher attempt); and never for a handler with effects outside the transaction.
    /// </summary>
    private static bool ClaimsLate(TDb db, IStepHandler handler, ExecuteStep message, bool firstTry) =>
        firstTry && message.Attempt == 1 && !handler.ClaimBeforeRunning && db.Database.IsNpgsql();

    /// <summary>
    /// Saves the handler's rows with the barrier row and commits. With a late claim the row is new here, and a key
    /// already taken (a duplicate committed first) fails the save: nothing of this try commits, and the retry claims first.
    /// </summary>
    private static async Task SaveAndCommitAsync(TDb db, IDbContextTransaction tx, BarrierRow row, bool claimLate, ExecuteStep message, CancellationToken ct)
    {
        if (!claimLate)
        {
            await CommitWithSave.SaveAndCommitAsync(db, tx, row, ct);
            return;
        }

        db.Barrier.Add(row);
        try
        {
            await CommitWithSave.SaveAndCommitAsync(db, tx, row, ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            throw LateClaimFailed(message, ex);
        }
    }

    /// <summary>
    /// A try that ran before claiming failed. Most likely a duplicate holds or took the key (its writes collided with
    /// ours), so the error is not the verdict: retried, claiming first, it replies from the committed row or meets the
    /// error again for real.
    /// </summary>
    private static BarrierConflictException LateClaimFailed(ExecuteStep message, Exception ex) =>
        new($"Saga {message.SagaId} step {message.Step}: the try that runs before claiming its key failed; trying again, claiming first.", ex);

    /// <summary>The work is still running: do not start it twice; remember the newer attempt so the final reply counts.</summary>
    private static async Task<object> RecordNewerAttemptAsync(TDb db, IDbContextTransaction tx, BarrierRow existing, ExecuteStep message, CancellationToken ct)
    {
        var work = AcceptedWork.FromRow(existing);
        if (message.Attempt > work.Attempt)
        {
            work = work with { Attempt = message.Attempt };
            var (sagaId, step, output) = (message.SagaId, message.Step, work.ToJson());
            var updated = await db.Barrier
                .Where(b => b.SagaId == sagaId && b.Step == step && b.Op == BarrierOps.Action && b.Outcome == BarrierOutcomes.Accepted)
                .ExecuteUpdateAsync(u => u.SetProperty(b => b.Output, output), ct);
            if (updated == 0)
            {
                throw new BarrierConflictException($"Accepted work of saga {message.SagaId} step {message.Step} was finished or compensated meanwhile.");
            }

            await tx.CommitAsync(ct);
        }

        return new StepHeartbeat(message.SagaId, message.Step, message.Attempt, work.ExtendBy);
    }

    public static async Task<object> CompensateOnceAsync(AsyncServiceScope scope, Type handlerType, CompensateStep message, string participant, CancellationToken ct)
    {
        await using var _ = scope;
        var db = Open(scope);
        using var gate = await SqliteWriteGate.EnterAsync(db, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var compensated = new StepCompensated(message.SagaId, message.Step, message.Attempt);

        // Both of the step's rows (action and compensation) in one look-up. Plain locals in queries: EF reads a
        // captured local directly, a property of a captured object through an expression interpreter each time.
        var (sagaId, step) = (message.SagaId, message.Step);
        var rows = await db.Barrier.AsNoTracking().Where(b => b.SagaId == sagaId && b.Step == step).ToListAsync(ct);
        if (rows.Exists(b => b.Op == BarrierOps.Compensation))
        {
            return compensated;
        }

        var action = rows.Find(b => b.Op == BarrierOps.Action);
        if (action is null)
        {
            // Null compensation: record the refusal first so that a late action finds it and stays out.
            var refused = NewRow(message.SagaId, message.Step, BarrierOps.Action, BarrierOutcomes.Refused);
            refused.Reason = StepDispatcher<TDb>.RefusedReason;
            db.Barrier.Add(refused);
            db.Barrier.Add(NewRow(message.SagaId, message.Step, BarrierOps.Compensation, BarrierOutcomes.NothingToUndo));
            await ClaimAsync(db, ct);
            await tx.CommitAsync(ct);
            return compensated;
        }

        if (action.Outcome == BarrierOutcomes.Accepted)
        {
            // Accepted work still pending: the compensation wins. The action becomes refused (so a late
            // StepReporter.CompleteAsync commits nothing) and the handler's compensation undoes what the
            // acceptance wrote. The conditional update decides the race with a concurrent completion.
            var claimed = await db.Barrier
                .Where(b => b.SagaId == sagaId && b.Step == step && b.Op == BarrierOps.Action && b.Outcome == BarrierOutcomes.Accepted)
                .ExecuteUpdateAsync(u => u.SetProperty(b => b.Outcome, BarrierOutcomes.Refused).SetProperty(b => b.Reason, StepDispatcher<TDb>.CompensatedWhileAcceptedReason), ct);
            if (claimed == 0)
            {
                throw new BarrierConflictException($"Accepted work of saga {message.SagaId} step {message.Step} was reported meanwhile.");
            }
        }
        else if (action.Outcome != BarrierOutcomes.Succeeded)
        {
            db.Barrier.Add(NewRow(message.SagaId, message.Step, BarrierOps.Compensation, BarrierOutcomes.NothingToUndo));
            await ClaimAsync(db, ct);
            await tx.CommitAsync(ct);
            return compensated;
        }

        var row = NewRow(message.SagaId, message.Step, BarrierOps.Compensation, BarrierOutcomes.Pending);
        db.Barrier.Add(row);
        await ClaimAsync(db, ct);

        var handler = (IStepHandler)scope.ServiceProvider.GetRequiredService(handlerType);
        var context = new StepContext(participant, message.SagaId, message.Definition, message.Version, message.Step, message.Attempt, message.Data, db, scope.ServiceProvider);
        var result = await handler.CompensateAsync(context, ct);
        if (!result.IsCompensated)
        {
            await tx.RollbackAsync(ct);
            return new CompensationFailed(message.SagaId, message.Step, message.Attempt, result.Retryable, result.Reason!);
        }

        row.Outcome = BarrierOutcomes.Compensated;
        await CommitWithSave.SaveAndCommitAsync(db, tx, row, ct);
        return compensated;
    }

    private static object ReplyFrom(BarrierRow row, ExecuteStep message) => row.Outcome switch
    {
        BarrierOutcomes.Succeeded => new StepSucceeded(message.SagaId, message.Step, message.Attempt, ParseOutput(row.Output)),
        BarrierOutcomes.Failed => new StepFailed(message.SagaId, message.Step, message.Attempt, false, row.Reason ?? "failed"),
        BarrierOutcomes.Refused => new StepFailed(message.SagaId, message.Step, message.Attempt, false, row.Reason ?? StepDispatcher<TDb>.RefusedReason),

        // A pending row is never committed; seeing one means a torn read, so take a fresh look.
        _ => throw new BarrierConflictException($"Barrier row for saga {message.SagaId} step {message.Step} has outcome '{row.Outcome}'."),
    };

    private static JsonElement? ParseOutput(string? output)
    {
        if (output is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(output);
        return document.RootElement.Clone();
    }

    /// <summary>
    /// The participant's context for one try. EF's automatic savepoints are off: a failed save ends the try and the
    /// whole transaction rolls back.
    /// </summary>
    private static TDb Open(AsyncServiceScope scope)
    {
        var db = scope.ServiceProvider.GetRequiredService<TDb>();
        db.Database.AutoSavepointsEnabled = false;
        return db;
    }

    private static Task<BarrierRow?> FindAsync(TDb db, Guid sagaId, string step, string op, CancellationToken ct) =>
        db.Barrier.AsNoTracking().FirstOrDefaultAsync(b => b.SagaId == sagaId && b.Step == step && b.Op == op, ct);

    private static BarrierRow NewRow(Guid sagaId, string step, string op, string outcome) =>
        new() { SagaId = sagaId, Step = step, Op = op, Outcome = outcome, CreatedAt = DateTimeOffset.UtcNow };

    /// <summary>
    /// Claims the action's key with its pending row. A key already taken leaves nothing written and returns false: the
    /// delivery that took it committed (PostgreSQL waits for a claim still in flight; SQLite writers run one at a time),
    /// so its row can be read. The conflict clause spares the separate look-up a first delivery would otherwise need,
    /// and the unique violation (and its error log) a duplicate would otherwise raise.
    /// </summary>
    private static async Task<bool> TryClaimAsync(TDb db, BarrierRow row, CancellationToken ct)
    {
        if (await InsertAsync(db, row, ct) == 0)
        {
            return false;
        }

        db.Barrier.Attach(row);
        return true;
    }

    /// <summary>Inserts the row unless its key is taken; the number of rows inserted.</summary>
    private static Task<int> InsertAsync(TDb db, BarrierRow row, CancellationToken ct)
    {
        // A null reason goes as SQL NULL (EF makes a parameter of every value, null included).
        object?[] values = [row.SagaId, row.Step, row.Op, row.Outcome, row.Reason, row.CreatedAt];
        return db.Database.ExecuteSqlRawAsync(BarrierSql.InsertUnlessTaken(db), values!, ct);
    }

    private static async Task ClaimAsync(TDb db, CancellationToken ct)
    {
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (DbErrors.IsUniqueViolation(ex))
        {
            // The disposing transaction rolls back; the retry pipeline re-reads the winner's row.
            throw new BarrierConflictException("A concurrent delivery claimed the same barrier key.", ex);
        }
    }
}
