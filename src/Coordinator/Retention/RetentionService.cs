using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Retention;

/// <summary>
/// Deletes finished sagas (Completed, Compensated, Cancelled; never Failed, which waits for a person) whose last change
/// is older than <see cref="RetentionOptions.KeepFor"/>, with their history, recorded events, compensation audit rows
/// and inbox rows. Works in batches: ids are selected first (outside any transaction), then each table is cleared with
/// one set-based DELETE per batch in a short transaction, so the hot path is never blocked for long. Sagas that still
/// have unsent outbox rows are left for a later run, and a saga that changed after it was selected is kept (the batch
/// rolls back and is selected again). Nothing is archived.
/// </summary>
public sealed class RetentionService(
    SagasDbFactory dbFactory,
    IOptions<RetentionOptions> options,
    TimeProvider clock,
    ILogger<RetentionService> logger) : BackgroundService
{
    private static readonly SagaState[] Finished = [SagaState.Completed, SagaState.Compensated, SagaState.Cancelled];

    /// <summary>Batches selected again in one run because a saga changed between selection and delete.</summary>
    private const int MaxReselects = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            logger.LogInformation("Retention is off (Sagas:Retention:KeepFor is not set): finished sagas are kept");
            return;
        }

        logger.LogInformation("Retention: finished sagas older than {KeepFor} are deleted every {Interval}, {BatchSize} at a time", o.KeepFor, o.Interval, o.BatchSize);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await PurgeAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Retention run failed; will try again in {Interval}", o.Interval);
                }

                await Task.Delay(o.Interval, clock, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>One retention run: batches until none is left. Returns the number of sagas deleted.</summary>
    public async Task<int> PurgeAsync(CancellationToken ct)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            return 0;
        }

        var cutoff = clock.GetUtcNow() - o.KeepFor!.Value;
        var batchSize = Math.Max(1, o.BatchSize);
        var total = 0;
        var changedMeanwhile = 0;
        while (!ct.IsCancellationRequested)
        {
            var deleted = await DeleteBatchAsync(cutoff, batchSize, ct);
            if (deleted is null)
            {
                // A saga of the batch changed after it was selected: nothing was deleted; select again (the changed
                // one no longer qualifies), a few times at most, then leave the rest to the next run.
                if (++changedMeanwhile >= MaxReselects)
                {
                    break;
                }

                continue;
            }

            total += deleted.Value;
            if (deleted < batchSize)
            {
                break;
            }
        }

        if (total > 0)
        {
            logger.LogInformation("Retention deleted {Count} finished saga(s) last changed before {Cutoff:O}", total, cutoff);
        }

        return total;
    }

    /// <summary>Deletes one batch; returns how many sagas, or null when one changed since it was selected (nothing deleted).</summary>
    private async Task<int?> DeleteBatchAsync(DateTimeOffset cutoff, int batchSize, CancellationToken ct)
    {
        await using var db = dbFactory.Create();

        // CreatedAt <= UpdatedAt, so the CreatedAt bound changes nothing but lets the (State, CreatedAt, Id) index do the work.
        var ids = await Expired(db, cutoff).AsNoTracking()
            .Where(s => s.CreatedAt < cutoff)
            .OrderBy(s => s.CreatedAt)
            .Select(s => s.Id)
            .Take(batchSize)
            .ToListAsync(ct);
        if (ids.Count == 0)
        {
            return 0;
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);

        // The saga rows go first, under the selection's own condition: the database checks it on each row as it
        // deletes it (after waiting for a writer that holds the row), so a saga that an operator action or a late
        // message changed since the selection is not deleted. Then the batch is not what was selected: roll back.
        var sagas = await Expired(db, cutoff).Where(s => ids.Contains(s.Id)).ExecuteDeleteAsync(ct);
        if (sagas != ids.Count)
        {
            await tx.RollbackAsync(ct);
            logger.LogInformation("Retention batch: {Changed} of {Selected} saga(s) changed since they were selected; selecting again", ids.Count - sagas, ids.Count);
            return null;
        }

        var history = await db.History.Where(h => ids.Contains(h.SagaId)).ExecuteDeleteAsync(ct);
        var events = await db.Events.Where(e => ids.Contains(e.SagaId)).ExecuteDeleteAsync(ct);
        var compensations = await db.Compensations.Where(c => ids.Contains(c.SagaId)).ExecuteDeleteAsync(ct);
        var inbox = await db.Inbox.Where(i => ids.Contains(i.SagaId)).ExecuteDeleteAsync(ct);
        await db.Claims.Where(c => ids.Contains(c.SagaId)).ExecuteDeleteAsync(ct);
        await db.Timers.Where(t => ids.Contains(t.SagaId)).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        logger.LogInformation(
            "Retention batch: deleted {Sagas} saga(s), {History} history, {Events} event, {Compensations} compensation and {Inbox} inbox row(s)",
            sagas, history, events, compensations, inbox);
        return ids.Count;
    }

    /// <summary>Finished sagas last changed before the cutoff with nothing left to send: the selection and the delete share it.</summary>
    private static IQueryable<SagaInstance> Expired(SagasDbContext db, DateTimeOffset cutoff) =>
        db.Sagas.Where(s => Finished.Contains(s.State) && s.UpdatedAt < cutoff && !db.Outbox.Any(m => m.SagaId == s.Id));
}
