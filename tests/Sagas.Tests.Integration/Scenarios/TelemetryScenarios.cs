using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Sagas.Coordinator.Telemetry;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Spans and metrics collected in memory (an <see cref="ActivityListener"/> and a <see cref="MeterListener"/>) while
/// sagas run on the embedded backend, participants in-process. The instruments are process-wide, so the metric
/// assertions are deltas over what this test started (test classes do not run in parallel).
/// </summary>
public sealed class TelemetryScenarios(EmbeddedBackend backend, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<EmbeddedBackend>
{
    private static readonly string[] Steps = ["reserve-stock", "charge-payment", "book-shipment"];

    [Fact]
    public async Task Trace_CompletedSaga_StartSendsRepliesAndParticipantConsumesShareOneTraceId()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is SagasDiagnostics.Name or SagasDiagnostics.MassTransit,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        var id = Guid.NewGuid();
        await backend.StartAsync(TestDefinitions.Fast, await backend.NewOrderAsync(), id);
        await backend.WaitForStateAsync(id, "Completed");

        var traceId = SagasDiagnostics.SagaContext(id).TraceId;
        Assert.Equal(id.ToString("N"), traceId.ToHexString());
        List<Activity> trace = [];
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            await Task.Delay(200);
            trace = spans.Where(s => s.TraceId == traceId).ToList();
        }
        while (DateTime.UtcNow < deadline && (Named(trace, "saga reply StepSucceeded").Count < 3 || trace.Count(IsConsume) < 6));

        var dump = string.Join("\n", trace.Select(s => $"{s.Source.Name} {s.Kind} {s.DisplayName} {string.Join(",", s.TagObjects.Select(t => $"{t.Key}={t.Value}"))}"));
        output.WriteLine(dump);
        Assert.Single(Named(trace, "saga start"));
        Assert.Equal(Steps, Named(trace, "saga step send").OrderBy(s => (int)s.GetTagItem("attempt")!).ThenBy(s => s.StartTimeUtc).Select(s => (string)s.GetTagItem("step")!));
        Assert.All(Named(trace, "saga step send"), s =>
        {
            Assert.Equal(id.ToString(), s.GetTagItem("saga.id"));
            Assert.Equal(TestDefinitions.Fast, s.GetTagItem("saga.definition"));
            Assert.Equal(1, s.GetTagItem("attempt"));
        });
        Assert.Equal(Steps.Order(StringComparer.Ordinal), Named(trace, "saga reply StepSucceeded").Select(s => (string)s.GetTagItem("step")!).Order(StringComparer.Ordinal));

        // MassTransit's consume spans: the three participants consuming ExecuteStep and the coordinator consuming their replies.
        Assert.Equal(3, trace.Count(s => IsConsume(s) && ConsumerType(s).StartsWith("Sagas.Participants.StepConsumer", StringComparison.Ordinal)));
        Assert.Equal(3, trace.Count(s => IsConsume(s) && ConsumerType(s) == "Sagas.Coordinator.Messaging.CoordinatorConsumer"));

        // Nothing of this saga was recorded outside its trace.
        Assert.DoesNotContain(spans, s => s.Source.Name == SagasDiagnostics.Name && Equals(s.GetTagItem("saga.id"), id.ToString()) && s.TraceId != traceId);
    }

    [Fact]
    public async Task Metrics_NCompletedMCompensated_CountersAndDurationsMatch()
    {
        const int completed = 3;
        const int compensated = 2;
        var counters = new ConcurrentDictionary<string, long>();
        var durations = new ConcurrentQueue<(string Instrument, string? Outcome, double Ms)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == SagasDiagnostics.Name && instrument.Meter.Scope is null)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (Tag(tags, "saga.definition") == TestDefinitions.Fast)
            {
                counters.AddOrUpdate(instrument.Name, value, (_, v) => v + value);
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (Tag(tags, "saga.definition") == TestDefinitions.Fast)
            {
                durations.Enqueue((instrument.Name, Tag(tags, "outcome"), value));
            }
        });
        listener.Start();

        var ids = new List<(Guid Id, string State)>();
        for (var i = 0; i < completed + compensated; i++)
        {
            var order = await backend.NewOrderAsync(country: i < completed ? "NL" : "AQ");
            ids.Add((await backend.StartAsync(TestDefinitions.Fast, order), i < completed ? "Completed" : "Compensated"));
        }

        foreach (var (id, state) in ids)
        {
            await backend.WaitForStateAsync(id, state);
        }

        long Count(string name) => counters.GetValueOrDefault(name);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && (Count("sagas.completed") < completed || Count("sagas.compensated") < compensated))
        {
            await Task.Delay(100);
        }

        await Task.Delay(300);
        Assert.Equal(completed + compensated, Count("sagas.started"));
        Assert.Equal(completed, Count("sagas.completed"));
        Assert.Equal(compensated, Count("sagas.compensated"));
        Assert.Equal(0, Count("sagas.failed"));
        Assert.Equal(0, Count("sagas.cancelled"));

        var steps = durations.Where(d => d.Instrument == "step.duration").ToList();
        Assert.Equal((3 * completed) + (2 * compensated), steps.Count(d => d.Outcome == "succeeded"));
        Assert.Equal(compensated, steps.Count(d => d.Outcome == "failed"));
        Assert.All(steps, d => Assert.True(d.Ms >= 0));
        Assert.Equal(2 * compensated, durations.Count(d => d.Instrument == "compensation.duration" && d.Outcome == "compensated"));
    }

    [Fact]
    public async Task Gauges_AndReadiness_ReportBacklogFromTheDatabase()
    {
        using var response = await backend.Client.GetAsync(new Uri("/health/ready", UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Equal("Healthy", body);

        var stats = (SagasStats)backend.Services.GetService(typeof(SagasStats))!;
        var snapshot = await stats.GetAsync(CancellationToken.None);
        Assert.True(snapshot.InState.ContainsKey(Sagas.Coordinator.Engine.SagaState.Running));
        Assert.True(snapshot.OutboxBacklog >= 0 && snapshot.TimerLagSeconds >= 0);
    }

    private static string ConsumerType(Activity span) => span.GetTagItem("messaging.masstransit.consumer_type") as string ?? "";

    private static bool IsConsume(Activity span) => span.Source.Name == SagasDiagnostics.MassTransit && span.Kind == ActivityKind.Consumer;

    private static List<Activity> Named(List<Activity> spans, string name) =>
        spans.Where(s => s.Source.Name == SagasDiagnostics.Name && s.DisplayName == name).ToList();

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == key)
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
