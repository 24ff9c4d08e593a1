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
/// have unsent outbox rows are left for a later run. Nothing is archived.
/// </summary>
public sealed class RetentionService(
    SagasDbFactory dbFactory,
    IOptions<RetentionOptions> options,
    TimeProvider clock,
    ILogger<RetentionService> logger) : BackgroundService
{
    private static readonly SagaState[] Finished = [SagaState.Completed, SagaState.Compensated, SagaState.Cancelled];

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
        while (!ct.IsCancellationRequested)
        {
            var deleted = await DeleteBatchAsync(cutoff, batchSize, ct);
            total += deleted;
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

    private async Task<int> DeleteBatchAsync(DateTimeOffset cutoff, int batchSize, CancellationToken ct)
    {
        await using var db = dbFactory.Create();

        // CreatedAt <= UpdatedAt, so the CreatedAt bound changes nothing but lets the (State, CreatedAt, Id) index do the work.
        var ids = await db.Sagas.AsNoTracking()
            .Where(s => Finished.Contains(s.State) && s.CreatedAt < cutoff && s.UpdatedAt < cutoff)
            .Where(s => !db.Outbox.Any(m => m.SagaId == s.Id))
            .OrderBy(s => s.CreatedAt)
            .Select(s => s.Id)
            .Take(batchSize)
            .ToListAsync(ct);
        if (ids.Count == 0)
        {
            return 0;
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);

        // Checked again inside the transaction: an operator action may have moved one since it was selected.
        ids = await db.Sagas.AsNoTracking()
            .Where(s => ids.Contains(s.Id) && Finished.Contains(s.State) && s.UpdatedAt < cutoff)
            .Select(s => s.Id)
            .ToListAsync(ct);
        if (ids.Count == 0)
        {
            return 0;
        }

        var history = await db.History.Where(h => ids.Contains(h.SagaId)).ExecuteDeleteAsync(ct);
        var events = await db.Events.Where(e => ids.Contains(e.SagaId)).ExecuteDeleteAsync(ct);
        var compensations = await db.Compensations.Where(c => ids.Contains(c.SagaId)).ExecuteDeleteAsync(ct);
        var inbox = await db.Inbox.Where(i => ids.Contains(i.SagaId)).ExecuteDeleteAsync(ct);
        await db.Claims.Where(c => ids.Contains(c.SagaId)).ExecuteDeleteAsync(ct);
        await db.Timers.Where(t => ids.Contains(t.SagaId)).ExecuteDeleteAsync(ct);
        var sagas = await db.Sagas.Where(s => ids.Contains(s.Id)).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        logger.LogInformation(
            "Retention batch: deleted {Sagas} saga(s), {History} history, {Events} event, {Compensations} compensation and {Inbox} inbox row(s)",
            sagas, history, events, compensations, inbox);
        return ids.Count;
    }
}
