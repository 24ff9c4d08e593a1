using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Telemetry;

/// <summary>Database-backed numbers for the gauges and the backlog health check, queried at most every <see cref="TelemetryOptions.StatsRefresh"/>.</summary>
public sealed class SagasStats(SagasDbFactory dbFactory, IOptions<TelemetryOptions> options, TimeProvider clock, ILogger<SagasStats> logger)
{
    /// <summary>Only the non-finished states (and Failed, which waits for a person) are counted: they stay few, so the count stays cheap.</summary>
    public static readonly SagaState[] CountedStates = [SagaState.Running, SagaState.Compensating, SagaState.Paused, SagaState.Failed];

    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile StatsSnapshot? _last;

    /// <summary>The last snapshot without waiting; starts a refresh in the background when it is stale.</summary>
    public StatsSnapshot? Peek()
    {
        var last = _last;
        if ((last is null || IsStale(last)) && _gate.CurrentCount > 0)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await GetAsync(CancellationToken.None);
                }
                catch (Exception ex)
                {
                    logger.LogDebug(ex, "Refreshing the saga statistics failed");
                }
            });
        }

        return last;
    }

    /// <summary>A snapshot at most <see cref="TelemetryOptions.StatsRefresh"/> old.</summary>
    public async Task<StatsSnapshot> GetAsync(CancellationToken ct)
    {
        if (_last is { } fresh && !IsStale(fresh))
        {
            return fresh;
        }

        await _gate.WaitAsync(ct);
        try
        {
            if (_last is { } other && !IsStale(other))
            {
                return other;
            }

            var snapshot = await QueryAsync(ct);
            _last = snapshot;
            return snapshot;
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool IsStale(StatsSnapshot snapshot) => clock.GetUtcNow() - snapshot.At >= options.Value.StatsRefresh;

    private async Task<StatsSnapshot> QueryAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var stuckBefore = now - options.Value.StuckAfter;
        await using var db = dbFactory.Create();
        var counts = await db.Sagas.AsNoTracking().Where(s => CountedStates.Contains(s.State))
            .GroupBy(s => s.State).Select(g => new { State = g.Key, Count = g.LongCount() }).ToListAsync(ct);
        var inState = CountedStates.ToDictionary(s => s, s => counts.FirstOrDefault(c => c.State == s)?.Count ?? 0L);
        var backlog = await db.Outbox.LongCountAsync(ct);
        var oldestOutbox = await db.Outbox.AsNoTracking().OrderBy(o => o.CreatedAt).Select(o => (DateTimeOffset?)o.CreatedAt).FirstOrDefaultAsync(ct);
        var oldestDue = await db.Timers.AsNoTracking().Where(t => t.WakeAt <= now)
            .OrderBy(t => t.WakeAt).Select(t => (DateTimeOffset?)t.WakeAt).FirstOrDefaultAsync(ct);
        var stuck = await db.Timers.LongCountAsync(t => t.WakeAt < stuckBefore, ct);
        return new StatsSnapshot(
            now,
            inState,
            backlog,
            oldestOutbox is { } o ? Math.Max(0, (now - o).TotalSeconds) : 0,
            oldestDue is { } d ? Math.Max(0, (now - d).TotalSeconds) : 0,
            stuck);
    }
}

public sealed record StatsSnapshot(
    DateTimeOffset At,
    IReadOnlyDictionary<SagaState, long> InState,
    long OutboxBacklog,
    double OutboxOldestAgeSeconds,
    double TimerLagSeconds,
    long Stuck);

/// <summary>
/// The observable gauges. They belong to a meter from the host's <see cref="IMeterFactory"/> (also named
/// <c>Sagas.Coordinator</c>) because they read this host's database; collecting never waits for a query.
/// </summary>
public sealed class SagasGauges : IHostedService, IDisposable
{
    private readonly Meter _meter;

    public SagasGauges(IMeterFactory meters, SagasStats stats)
    {
        _meter = meters.Create(SagasDiagnostics.Name);
        _meter.CreateObservableGauge("sagas.in_state", () => stats.Peek()?.InState.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("state", kv.Key.ToString()))) ?? [], "{saga}", "Sagas per non-finished state (and Failed)");
        _meter.CreateObservableGauge("outbox.backlog", () => Single(stats.Peek()?.OutboxBacklog), "{message}", "Outbox rows not yet sent");
        _meter.CreateObservableGauge("outbox.oldest_age_seconds", () => Single(stats.Peek()?.OutboxOldestAgeSeconds), "s", "Age of the oldest unsent outbox row");
        _meter.CreateObservableGauge("timer.lag_seconds", () => Single(stats.Peek()?.TimerLagSeconds), "s", "How late the oldest due timer (NextWakeAt) is");
        _meter.CreateObservableGauge("sagas.stuck", () => Single(stats.Peek()?.Stuck), "{saga}", "Sagas overdue for their next event by more than Sagas:Telemetry:StuckAfter");
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<T>> Single<T>(T? value)
        where T : struct =>
        value is { } v ? [new Measurement<T>(v)] : [];
}
