using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Sagas.Coordinator.Telemetry;

/// <summary>Degraded (still ready: HTTP 200) when the outbox or the timers fall behind; the database check owns "unhealthy".</summary>
public sealed class BacklogHealthCheck(SagasStats stats, IOptions<TelemetryOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        StatsSnapshot snapshot;
        try
        {
            snapshot = await stats.GetAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Degraded("backlog unknown: the statistics query failed", ex);
        }

        var o = options.Value;
        var data = new Dictionary<string, object>
        {
            ["outboxBacklog"] = snapshot.OutboxBacklog,
            ["outboxOldestAgeSeconds"] = Math.Round(snapshot.OutboxOldestAgeSeconds, 1),
            ["timerLagSeconds"] = Math.Round(snapshot.TimerLagSeconds, 1),
            ["stuck"] = snapshot.Stuck,
        };
        var problems = new List<string>();
        if (o.DegradedOutboxAgeSeconds > 0 && snapshot.OutboxOldestAgeSeconds > o.DegradedOutboxAgeSeconds)
        {
            problems.Add($"oldest outbox row is {snapshot.OutboxOldestAgeSeconds:0} s old (threshold {o.DegradedOutboxAgeSeconds} s)");
        }

        if (o.DegradedTimerLagSeconds > 0 && snapshot.TimerLagSeconds > o.DegradedTimerLagSeconds)
        {
            problems.Add($"timers are {snapshot.TimerLagSeconds:0} s late (threshold {o.DegradedTimerLagSeconds} s)");
        }

        return problems.Count == 0
            ? HealthCheckResult.Healthy(null, data)
            : HealthCheckResult.Degraded(string.Join("; ", problems), null, data);
    }
}
