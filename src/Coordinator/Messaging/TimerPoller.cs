using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Messaging;

/// <summary>
/// Durable timers: each saga stores its next wake-up time; this poller feeds a tick to every saga that is
/// due. Timeouts, retry back-offs and deadlines therefore survive restarts and need no broker plugin,
/// and a lost command or reply is re-driven by its step timeout.
/// </summary>
public sealed class TimerPoller(
    SagasDbFactory dbFactory,
    SagaProcessor processor,
    IOptions<SagasOptions> options,
    TimeProvider clock,
    ILogger<TimerPoller> logger) : BackgroundService
{
    private const int BatchSize = 200;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.TimerPollInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await FireDueAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The database is unreachable: the timers are stored, they fire on a later tick.
                    logger.LogWarning(ex, "Timer poll failed; will try again");
                    await Task.Delay(TimeSpan.FromSeconds(1), clock, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task FireDueAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        List<Guid> due;
        await using (var db = dbFactory.Create())
        {
            due = await db.Sagas.AsNoTracking()
                .Where(s => s.NextWakeAt != null && s.NextWakeAt <= now)
                .OrderBy(s => s.NextWakeAt)
                .Select(s => s.Id)
                .Take(BatchSize)
                .ToListAsync(ct);
        }

        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct },
            async (sagaId, token) => await processor.HandleAsync(sagaId, null, new SagaEvent.Tick(), token));
    }
}
