using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Npgsql;
using Sagas.Samples;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Telemetry as an operator sees it in production: the coordinator and the sample participants run as separate OS
/// processes on PostgreSQL and RabbitMQ and export their spans over OTLP to a collector in this test; the counters
/// are read from the coordinator's Prometheus endpoint. One trace per saga must hold both processes' spans.
/// </summary>
public sealed partial class CrossProcessTelemetryScenarios(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly string[] Steps = ["reserve-stock", "charge-payment", "book-shipment"];

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<ChildProcess> _processes = [];
    private bool _failed = true;

    private string WorkDirectory { get; } = Directory.CreateTempSubdirectory("sagas-otel-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_failed)
        {
            foreach (var process in _processes)
            {
                output.WriteLine(process.ReadLogTail(100));
            }
        }

        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
    }

    [Fact]
    public async Task Telemetry_SagasAcrossProcesses_OneTracePerSagaWithBothProcessesAndCountersMatch()
    {
        const int completed = 3;
        const int compensated = 2;
        var collector = await OtlpReceiver.StartAsync();
        _owned.Add(collector);
        var (coordinator, ledger) = await StartRigAsync(collector.Endpoint);

        // A cold participants host (EF models, JIT) can take longer than order-fast's 1.5-s step timeouts three times
        // over on a slow machine, which compensates a saga meant to complete (seen in CI). One saga of the shipped
        // definition, whose steps wait 10 s, warms both processes first; its spans are another trace and its counters
        // another definition, so nothing below counts it.
        var warmUp = new Order("o-warm", "c-warm", "sku-warm", 1, 5m, "NL");
        await ledger.Ledger.SeedStockAsync(warmUp.Sku, 10);
        await ledger.Ledger.SeedCustomerAsync(warmUp.CustomerId, 100m);
        var warmUpId = Guid.NewGuid();
        using (var started = await coordinator.Client.PostAsJsonAsync(
            new Uri("api/sagas", UriKind.Relative), new { definition = "order-fulfilment", sagaId = warmUpId, data = warmUp.ToJson() }))
        {
            Assert.Equal(202, (int)started.StatusCode);
        }

        await WaitForStateAsync(coordinator, warmUpId, "Completed");

        var sagas = new List<(Guid Id, string State)>();
        for (var i = 0; i < completed + compensated; i++)
        {
            var suffix = Guid.NewGuid().ToString("N")[..10];
            var order = new Order($"o-{suffix}", $"c-{suffix}", $"sku-{suffix}", 2, 25m, i < completed ? "NL" : "AQ");
            await ledger.Ledger.SeedStockAsync(order.Sku, 100);
            await ledger.Ledger.SeedCustomerAsync(order.CustomerId, 1000m);
            var id = Guid.NewGuid();
            using var response = await coordinator.Client.PostAsJsonAsync(
                new Uri("api/sagas", UriKind.Relative), new { definition = TestDefinitions.Fast, sagaId = id, data = order.ToJson() });
            Assert.Equal(202, (int)response.StatusCode);
            sagas.Add((id, i < completed ? "Completed" : "Compensated"));
        }

        foreach (var (id, state) in sagas)
        {
            await WaitForStateAsync(coordinator, id, state);
        }

        // Both processes batch their exports; wait until every saga's trace holds what both sent.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !sagas.All(s => TraceIsComplete(collector, s.Id, s.State)))
        {
            await Task.Delay(250);
        }

        foreach (var (id, state) in sagas)
        {
            var traceId = id.ToString("N");
            var trace = collector.Spans.Where(s => s.TraceId == traceId).ToList();
            output.WriteLine($"saga {id} ({state}): {trace.Count} spans\n  " + string.Join("\n  ", trace.Select(s => $"{s.Service} {s.Scope} {s.Name}")));

            Assert.Single(trace, s => s.Service == "sagas-coordinator" && s.Name == "saga start");

            // Every command the coordinator sent was handled by a participant, under the same trace; a step that timed
            // out on a cold start is sent again (attempt 2), so the counts follow the sends rather than a constant.
            var sent = Commands(trace, "sagas-coordinator", "Sagas.Coordinator", "saga step send", "saga compensation send");
            var handled = Commands(trace, "sagas-participants", "Sagas.Participants", "participant action", "participant compensation");
            Assert.Equal(sent, handled);
            Assert.Equal(Steps.Order(StringComparer.Ordinal), StepsOf(handled, "action"));

            // AQ: shipping refuses, the two steps that ran are compensated.
            Assert.Equal(state == "Completed" ? [] : ["charge-payment", "reserve-stock"], StepsOf(handled, "compensation"));
            Assert.Equal(sent.Count, Processed(trace, "sagas-participants"));
            Assert.Equal(sent.Count, trace.Count(s => s.Service == "sagas-coordinator" && s.Name.StartsWith("saga reply ", StringComparison.Ordinal)));

            // Every reply travels alone here (BatchAcrossCommands off above): MassTransit received each in this saga's
            // trace. With replies shared across commands (the default), a shared message's receive is in the trace of
            // the consume that sent it, and this count can be lower.
            Assert.Equal(sent.Count, Processed(trace, "sagas-coordinator"));

            // The participants' spans hang from spans the coordinator sent, not from roots of their own.
            var coordinatorSpanIds = trace.Where(s => s.Service == "sagas-coordinator").Select(s => s.SpanId).ToHashSet();
            var participantSpanIds = trace.Where(s => s.Service == "sagas-participants").Select(s => s.SpanId).ToHashSet();
            Assert.All(trace.Where(s => s.Service == "sagas-participants" && s.Scope == "MassTransit" && s.Name.Contains("process", StringComparison.Ordinal)),
                s => Assert.True(coordinatorSpanIds.Contains(s.ParentSpanId) || participantSpanIds.Contains(s.ParentSpanId), $"{s.Name} has parent {s.ParentSpanId} outside the trace"));

            // Nothing about this saga was exported under another trace id, by either process.
            Assert.DoesNotContain(collector.Spans, s => s.Attribute("saga.id") == id.ToString() && s.TraceId != traceId);
        }

        var metrics = await coordinator.Client.GetStringAsync(new Uri("metrics", UriKind.Relative));
        Assert.Equal(completed + compensated, Counter(metrics, "sagas_started_total"));
        Assert.Equal(completed, Counter(metrics, "sagas_completed_total"));
        Assert.Equal(compensated, Counter(metrics, "sagas_compensated_total"));
        Assert.Equal(0, Counter(metrics, "sagas_failed_total"));
        Assert.Equal(completed * 3 + compensated * 2, Counter(metrics, "step_duration_milliseconds_count", "outcome=\"succeeded\""));
        Assert.Equal(compensated * 2, Counter(metrics, "compensation_duration_milliseconds_count", "outcome=\"compensated\""));
        _failed = false;
    }

    private static bool TraceIsComplete(OtlpReceiver collector, Guid id, string state)
    {
        var trace = collector.Spans.Where(s => s.TraceId == id.ToString("N")).ToList();
        var sent = Commands(trace, "sagas-coordinator", "Sagas.Coordinator", "saga step send", "saga compensation send");
        return trace.Any(s => s.Name == "saga start")
            && trace.Any(s => s.Name == "saga publish Saga" + state)
            && Commands(trace, "sagas-participants", "Sagas.Participants", "participant action", "participant compensation").Count == sent.Count
            && Processed(trace, "sagas-participants") == sent.Count
            && Processed(trace, "sagas-coordinator") == sent.Count;
    }

    /// <summary>"action reserve-stock 1", "compensation charge-payment 1"...: what one side's spans say was sent or handled, sorted.</summary>
    private static List<string> Commands(List<ReceivedSpan> trace, string service, string scope, string action, string compensation) =>
        trace.Where(s => s.Service == service && s.Scope == scope && (s.Name.StartsWith(action, StringComparison.Ordinal) || s.Name.StartsWith(compensation, StringComparison.Ordinal)))
            .Select(s => $"{(s.Name.StartsWith(action, StringComparison.Ordinal) ? "action" : "compensation")} {s.Attribute("step")} {s.Attribute("attempt")}")
            .Order(StringComparer.Ordinal)
            .ToList();

    private static List<string> StepsOf(List<string> commands, string kind) =>
        commands.Where(c => c.StartsWith(kind + " ", StringComparison.Ordinal)).Select(c => c.Split(' ')[1]).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>MassTransit consume spans of a process: participants consuming commands, or the coordinator consuming replies.</summary>
    private static int Processed(List<ReceivedSpan> trace, string service) =>
        trace.Count(s => s.Service == service && s.Scope == "MassTransit" && s.Name.EndsWith(" process", StringComparison.Ordinal)
            && (service == "sagas-coordinator") == s.Name.StartsWith("sagas-coordinator ", StringComparison.Ordinal));

    /// <summary>The sum of a Prometheus sample's values over the lines for <see cref="TestDefinitions.Fast"/> that contain <paramref name="label"/>.</summary>
    private static double Counter(string metrics, string name, string? label = null)
    {
        var total = 0.0;
        foreach (Match match in SampleLine().Matches(metrics))
        {
            var labels = match.Groups["labels"].Value;
            if (match.Groups["name"].Value == name && labels.Contains($"saga_definition=\"{TestDefinitions.Fast}\"", StringComparison.Ordinal)
                && (label is null || labels.Contains(label, StringComparison.Ordinal)))
            {
                total += double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)\{(?<labels>[^}]*)\} (?<value>[0-9.eE+-]+)", RegexOptions.Multiline)]
    private static partial Regex SampleLine();

    private async Task<(CoordinatorProcess Coordinator, ParticipantLedger Ledger)> StartRigAsync(Uri collector)
    {
        var (rabbit, postgres) = await TestServices.GetAsync();
        var unique = "otel_" + Guid.NewGuid().ToString("N")[..8];
        var broker = await TestServices.CreateVhostAsync(rabbit, "sagas-" + unique);
        _owned.Add(TestServices.OwnVhost("sagas-" + unique));
        _owned.Add(TestServices.OwnDatabases("sagas_" + unique));
        var samples = SamplesOptions.ForPostgres(postgres, $"sagas_{unique}_");
        var ledger = await ParticipantLedger.CreateAsync(samples);
        _owned.Add(ledger);
        var common = new Dictionary<string, string?>
        {
            ["Sagas:Transport:Kind"] = "RabbitMq",
            ["Sagas:Transport:RabbitMqUri"] = broker.ToString(),
            ["Sagas:Telemetry:Otlp:Endpoint"] = collector.ToString(),
            ["Sagas:Telemetry:Otlp:Protocol"] = "HttpProtobuf",

            // Export every half second instead of every five.
            ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
        };

        var participants = new ParticipantsProcess(WorkDirectory, new Dictionary<string, string?>(common)
        {
            ["Samples:Provider"] = "Postgres",
            ["ConnectionStrings:Inventory"] = samples.Inventory,
            ["ConnectionStrings:Payments"] = samples.Payments,
            ["ConnectionStrings:Shipping"] = samples.Shipping,

            // Each reply its own broker message, so MassTransit's receive of each is in its own saga's trace (checked
            // below); replies that share a message keep their saga's trace for the spans of ours.
            ["Sagas:Participants:Reply:BatchAcrossCommands"] = "false",
        }, broker);
        _owned.Add(participants);
        _processes.Add(participants);
        await participants.StartAsync();

        var definitions = Path.Combine(WorkDirectory, "definitions");
        TestDefinitions.WriteAll(definitions);
        var coordinator = new CoordinatorProcess(WorkDirectory, new Dictionary<string, string?>(common)
        {
            ["Sagas:Mode"] = "Distributed",
            ["Sagas:HostSampleParticipants"] = "false",
            ["Sagas:Database:Provider"] = "Postgres",
            ["ConnectionStrings:Sagas"] = new NpgsqlConnectionStringBuilder(postgres) { Database = $"sagas_{unique}" }.ConnectionString,
            ["Sagas:DefinitionsPath"] = definitions,
            ["Sagas:Telemetry:Prometheus:Enabled"] = "true",

            // Each command its own broker message, so each has MassTransit spans of its own to count here; batched
            // commands keep their saga's trace for the spans of ours (BatchingScenarios).
            ["Sagas:CommandBatchSize"] = "1",
        });
        _owned.Add(coordinator);
        _processes.Add(coordinator);
        await coordinator.StartAsync();
        return (coordinator, ledger);
    }

    private static async Task WaitForStateAsync(CoordinatorProcess coordinator, Guid id, string state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(40);
        while (DateTime.UtcNow < deadline)
        {
            if (await coordinator.TryGetSagaAsync(id) is { } saga && saga.GetProperty("state").GetString() == state)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"saga {id} not {state} within 40 s: {await coordinator.TryGetSagaAsync(id)}");
    }
}
