using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Messaging;

/// <summary>
/// Durable timers: each saga stores its next wake-up time; this poller feeds a tick to every saga that is
/// due. Timeouts, retry back-offs and deadlines therefore survive restarts and need no broker plugin,
/// and a lost command or reply is re-driven by its step timeout. The poller sleeps until the next wake-up it
/// knows of (from its own look, or reported by <see cref="TimerSignal"/> for commits in this process), at least
/// <see cref="SagasOptions.TimerPollInterval"/> and at most <see cref="SagasOptions.TimerPollMaxInterval"/>: an
/// idle coordinator does not query five times a second, and a busy one does not wait out a fixed beat.
/// </summary>
public sealed class TimerPoller(
    SagasDbFactory dbFactory,
    SagaProcessor processor,
    TimerSignal signal,
    IOptions<SagasOptions> options,
    TimeProvider clock,
    ILogger<TimerPoller> logger) : BackgroundService
{
    private const int BatchSize = 200;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var floor = options.Value.TimerPollInterval;
        var ceiling = options.Value.TimerPollMaxInterval > floor ? options.Value.TimerPollMaxInterval : floor;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var started = clock.GetUtcNow();
                signal.BeginLook();
                DateTimeOffset next;
                try
                {
                    next = await FireDueAsync(started, started + ceiling, stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The database is unreachable: the timers are stored, they fire on a later look.
                    logger.LogWarning(ex, "Timer poll failed; will try again");
                    next = clock.GetUtcNow() + TimeSpan.FromSeconds(1);
                }

                await signal.SleepAsync(next, started + floor, clock, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>Ticks the sagas due at <paramref name="now"/>; returns when to look again (at most <paramref name="horizon"/>).</summary>
    private async Task<DateTimeOffset> FireDueAsync(DateTimeOffset now, DateTimeOffset horizon, CancellationToken ct)
    {
        List<(Guid Id, DateTimeOffset At)> soon;
        await using (var db = dbFactory.Create())
        {
            // The due ones and those due before the horizon, in one query: the first future one is the next look.
            var rows = await db.Timers.AsNoTracking()
                .Where(t => t.WakeAt <= horizon)
                .OrderBy(t => t.WakeAt)
                .Take(BatchSize)
                .ToListAsync(ct);
            soon = rows.Select(r => (r.SagaId, r.WakeAt)).ToList();
        }

        var due = soon.Where(s => s.At <= now).Select(s => s.Id).ToList();
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct },
            async (sagaId, token) => await processor.HandleAsync(sagaId, null, new SagaEvent.Tick(), token));

        if (due.Count == BatchSize)
        {
            return now;
        }

        return soon.Count > due.Count ? soon[due.Count].At : horizon;
    }
}
