using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Sagas.Participants.Telemetry;

namespace Sagas.Samples.Host;

/// <summary>
/// OTLP export of the participants' spans (MassTransit's and <see cref="ParticipantDiagnostics"/>), MassTransit's
/// metrics and the logs, under the same keys as the coordinator's: <c>Sagas:Telemetry:Otlp:Endpoint</c> and
/// <c>:Protocol</c> (<c>Grpc</c> or <c>HttpProtobuf</c>), <c>Sagas:Telemetry:ServiceName</c>. Off unless an endpoint is set.
/// </summary>
public static class SampleHostTelemetry
{
    public const string Section = "Sagas:Telemetry";
    public const string DefaultServiceName = "sagas-participants";
    private const string MassTransitSource = "MassTransit";

    public static HostApplicationBuilder AddSampleTelemetry(this HostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection(Section);
        var endpoint = section["Otlp:Endpoint"];
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return builder;
        }

        var protocol = section["Otlp:Protocol"] ?? "Grpc";
        var http = string.Equals(protocol, "HttpProtobuf", StringComparison.OrdinalIgnoreCase);
        if (!http && !string.Equals(protocol, "Grpc", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"{Section}:Otlp:Protocol must be Grpc or HttpProtobuf, not '{protocol}'.");
        }

        Action<OtlpExporterOptions> Otlp(string signal) => o =>
        {
            o.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
            o.Endpoint = new Uri(http ? $"{endpoint.TrimEnd('/')}/v1/{signal}" : endpoint);
        };

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(section["ServiceName"] ?? DefaultServiceName))
            .WithTracing(t => t.AddSource(ParticipantDiagnostics.Name, MassTransitSource).AddOtlpExporter(Otlp("traces")))
            .WithMetrics(m => m.AddMeter(MassTransitSource).AddOtlpExporter(Otlp("metrics")))
            .WithLogging(l => l.AddOtlpExporter(Otlp("logs")), o =>
            {
                o.IncludeScopes = true;
                o.IncludeFormattedMessage = true;
            });
        return builder;
    }
}
