namespace Sagas.Coordinator.Telemetry;

/// <summary>Exporters, gauge refresh and health thresholds, bound from <see cref="Section"/>.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Sagas:Telemetry";

    /// <summary>The <c>service.name</c> resource attribute of exported telemetry.</summary>
    public string ServiceName { get; set; } = "sagas-coordinator";

    public OtlpSettings Otlp { get; set; } = new();

    public PrometheusSettings Prometheus { get; set; } = new();

    /// <summary>The database-backed gauges and the backlog health check query at most this often (results are cached).</summary>
    public TimeSpan StatsRefresh { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A saga whose next wake-up is overdue by more than this counts as stuck (<c>sagas.stuck</c>).</summary>
    public TimeSpan StuckAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary><c>/health/ready</c> is Degraded when the oldest outbox row is older than this (seconds; 0 = never).</summary>
    public double DegradedOutboxAgeSeconds { get; set; } = 60;

    /// <summary><c>/health/ready</c> is Degraded when the oldest due timer is late by more than this (seconds; 0 = never).</summary>
    public double DegradedTimerLagSeconds { get; set; } = 30;

    public sealed class OtlpSettings
    {
        /// <summary>OTLP collector address (e.g. <c>http://otel-collector:4317</c>); traces, metrics and logs are exported when set.</summary>
        public string? Endpoint { get; set; }

        /// <summary><c>Grpc</c> (default) or <c>HttpProtobuf</c>.</summary>
        public string Protocol { get; set; } = "Grpc";
    }

    public sealed class PrometheusSettings
    {
        /// <summary>Serve the metrics in Prometheus text format at <c>/metrics</c>.</summary>
        public bool Enabled { get; set; }

        /// <summary>Serve <c>/metrics</c> without a key. Off by default: a Reader key (or token) is needed.</summary>
        public bool AllowAnonymous { get; set; }
    }
}
