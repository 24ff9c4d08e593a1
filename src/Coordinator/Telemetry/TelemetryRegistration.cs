using MassTransit;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Sagas.Coordinator.Api.Auth;

namespace Sagas.Coordinator.Telemetry;

/// <summary>Spans, metrics, log scopes and the backlog health check; OTLP and Prometheus exporters when configured.</summary>
public static class TelemetryRegistration
{
    public const string MetricsPath = "/metrics";

    public static IHostApplicationBuilder AddSagasTelemetry(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section);
        services.AddSingleton<SagasStats>();
        services.AddSingleton<SagasGauges>();
        services.AddHostedService(sp => sp.GetRequiredService<SagasGauges>());
        services.AddHealthChecks().AddCheck<BacklogHealthCheck>("backlog", tags: ["ready"]);
        services.AddSingleton<IConfigureReceiveEndpoint, SagaLogScopeEndpointConfigurator>();

        var options = builder.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var otlp = !string.IsNullOrWhiteSpace(options.Otlp.Endpoint);
        if (!otlp && !options.Prometheus.Enabled)
        {
            return builder;
        }

        // A programmatic endpoint is used as is; with http/protobuf each signal needs its own path.
        var http = string.Equals(options.Otlp.Protocol, "HttpProtobuf", StringComparison.OrdinalIgnoreCase);
        Action<OtlpExporterOptions> Otlp(string signal) => o =>
        {
            o.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
            o.Endpoint = new Uri(http ? $"{options.Otlp.Endpoint!.TrimEnd('/')}/v1/{signal}" : options.Otlp.Endpoint!);
        };

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(options.ServiceName))
            .WithMetrics(m =>
            {
                m.AddMeter(SagasDiagnostics.Name, SagasDiagnostics.MassTransit).AddAspNetCoreInstrumentation();
                if (otlp)
                {
                    m.AddOtlpExporter(Otlp("metrics"));
                }

                if (options.Prometheus.Enabled)
                {
                    m.AddPrometheusExporter();
                }
            });
        if (otlp)
        {
            telemetry
                .WithTracing(t => t
                    .AddSource(SagasDiagnostics.Name, SagasDiagnostics.MassTransit)
                    .AddAspNetCoreInstrumentation(o => o.Filter = http =>
                        !http.Request.Path.StartsWithSegments("/health") && !http.Request.Path.StartsWithSegments(MetricsPath))
                    .AddOtlpExporter(Otlp("traces")))
                .WithLogging(l => l.AddOtlpExporter(Otlp("logs")), o =>
                {
                    o.IncludeScopes = true;
                    o.IncludeFormattedMessage = true;
                });
        }

        return builder;
    }

    /// <summary><c>/metrics</c> when Prometheus is on: a Reader key unless <c>Sagas:Telemetry:Prometheus:AllowAnonymous</c>.</summary>
    public static WebApplication MapSagasTelemetry(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (options.Prometheus.Enabled)
        {
            var endpoint = app.MapPrometheusScrapingEndpoint(MetricsPath);
            if (options.Prometheus.AllowAnonymous)
            {
                endpoint.AllowAnonymous();
            }
            else
            {
                endpoint.RequireAuthorization(Policies.Reader);
            }
        }

        return app;
    }
}
