using System.Diagnostics;
using System.Diagnostics.Metrics;
using Sagas.Contracts;
using Sagas.Coordinator.Engine;

namespace Sagas.Coordinator.Telemetry;

/// <summary>
/// The coordinator's spans (<see cref="Source"/>) and its counters and histograms (<see cref="Meter"/>), both named
/// <c>Sagas.Coordinator</c>. Instruments are process-wide; nothing is recorded unless a listener (OpenTelemetry, a test)
/// subscribes.
/// </summary>
/// <remarks>
/// <para><b>One trace per saga.</b> Commands leave through the outbox after the commit, often from another thread or
/// from the sweeper of a later process, so the start's <see cref="Activity.Current"/> is long gone when they are sent.
/// Instead of storing a traceparent (a schema change), every span of a saga gets a parent derived from the saga id:
/// the trace id is the saga id's 16 bytes (big-endian, so the trace id is the saga id written without dashes) and the
/// parent span id its last 8 bytes. MassTransit's own send/receive spans are children of ours and carry the context in
/// the message headers, so participants' consume and reply spans and the coordinator's reply handling all join that
/// trace. The HTTP request or bus message that started the saga is linked (not parented) to the start span.</para>
/// <para>Consequence: the synthetic parent span is never exported (viewers show the saga's spans as several roots of
/// one trace), and the sampling decision is "recorded" for every saga (the derived parent is flagged sampled).</para>
/// </remarks>
public static class SagasDiagnostics
{
    public const string Name = "Sagas.Coordinator";

    /// <summary>MassTransit's ActivitySource and Meter name.</summary>
    public const string MassTransit = "MassTransit";

    public static readonly ActivitySource Source = new(Name);

    public static readonly Meter Meter = new(Name);

    private static readonly Counter<long> Started = Meter.CreateCounter<long>("sagas.started", "{saga}", "Sagas started");
    private static readonly Counter<long> Completed = Meter.CreateCounter<long>("sagas.completed", "{saga}", "Sagas that completed");
    private static readonly Counter<long> Compensated = Meter.CreateCounter<long>("sagas.compensated", "{saga}", "Sagas that were compensated");
    private static readonly Counter<long> Failed = Meter.CreateCounter<long>("sagas.failed", "{saga}", "Sagas that failed (need a person)");
    private static readonly Counter<long> Cancelled = Meter.CreateCounter<long>("sagas.cancelled", "{saga}", "Sagas that were cancelled");
    private static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("step.duration", "ms", "From a step's first command to its final outcome");
    private static readonly Histogram<double> CompensationDuration = Meter.CreateHistogram<double>("compensation.duration", "ms", "From a step's first compensation command to its outcome");

    /// <summary>The parent every span of this saga hangs from: trace id = saga id.</summary>
    public static ActivityContext SagaContext(Guid sagaId) => Participants.Telemetry.ParticipantDiagnostics.SagaContext(sagaId);

    /// <summary>The start of a saga; the request or message that asked for it is linked.</summary>
    public static Activity? StartSaga(Guid sagaId, string definition)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var links = Activity.Current is { } caller ? new[] { new ActivityLink(caller.Context) } : null;
        return Source.StartActivity(ActivityKind.Internal, SagaContext(sagaId), Tags(sagaId, definition, null, null), links, name: "saga start");
    }

    /// <summary>A reply, timer tick or operator action applied to a saga: a child of the consume span when that is already in the saga's trace.</summary>
    public static Activity? StartHandle(Guid sagaId, SagaEvent evt)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var (step, attempt) = StepOf(evt);
        var name = evt switch
        {
            SagaEvent.Reply r => "saga reply " + r.Message.GetType().Name,
            SagaEvent.Tick => "saga tick",
            _ => "saga operator",
        };
        var context = SagaContext(sagaId);
        var current = Activity.Current;
        if (current is not null && current.TraceId == context.TraceId)
        {
            return Source.StartActivity(name, ActivityKind.Internal, current.Context, Tags(sagaId, null, step, attempt));
        }

        var links = current is null ? null : new[] { new ActivityLink(current.Context) };
        return Source.StartActivity(ActivityKind.Internal, context, Tags(sagaId, null, step, attempt), links, name: name);
    }

    /// <summary>An outbox message being sent; MassTransit's send span becomes its child and carries the trace on.</summary>
    public static Activity? StartSend(Guid sagaId, object message)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var (name, definition, step, attempt) = message switch
        {
            ExecuteStep m => ("saga step send", m.Definition, m.Step, (int?)m.Attempt),
            CompensateStep m => ("saga compensation send", m.Definition, m.Step, m.Attempt),
            _ => ("saga publish " + message.GetType().Name, null, null, null),
        };
        return Source.StartActivity(ActivityKind.Producer, SagaContext(sagaId), Tags(sagaId, definition, step, attempt), name: name);
    }

    /// <summary>The step (and attempt) an event is about, for spans and log scopes.</summary>
    public static (string? Step, int? Attempt) StepOf(SagaEvent evt) => evt is SagaEvent.Reply r ? StepOf(r.Message) : (null, null);

    public static (string? Step, int? Attempt) StepOf(object message) => message switch
    {
        ExecuteStep m => (m.Step, m.Attempt),
        CompensateStep m => (m.Step, m.Attempt),
        StepSucceeded m => (m.Step, m.Attempt),
        StepFailed m => (m.Step, m.Attempt),
        StepCompensated m => (m.Step, m.Attempt),
        CompensationFailed m => (m.Step, m.Attempt),
        StepHeartbeat m => (m.Step, m.Attempt),
        _ => (null, null),
    };

    /// <summary>A logger scope naming the saga (and step) on every line written inside it.</summary>
    public static IDisposable? BeginSagaScope(ILogger logger, Guid sagaId, string? step) => logger.BeginScope(new SagaLogScope(sagaId, step));

    public static void RecordStarted(string definition) => Started.Add(1, new KeyValuePair<string, object?>("saga.definition", definition));

    /// <summary>
    /// Counts terminal transitions and records step and compensation durations; call after the commit. The
    /// decision's history already names every transition it made, so nothing has to be remembered from before.
    /// </summary>
    public static void RecordTransition(Decision decision)
    {
        var after = decision.Instance;
        var definition = new KeyValuePair<string, object?>("saga.definition", after.Definition);
        foreach (var entry in decision.History)
        {
            switch (entry.Type)
            {
                case HistoryTypes.SagaCompleted:
                    Completed.Add(1, definition);
                    break;
                case HistoryTypes.SagaCompensated:
                    Compensated.Add(1, definition);
                    break;
                case HistoryTypes.SagaFailed:
                    Failed.Add(1, definition);
                    break;
                case HistoryTypes.SagaCancelled:
                    Cancelled.Add(1, definition);
                    break;
                case HistoryTypes.StepSucceeded or HistoryTypes.StepFailed or HistoryTypes.StepTimedOut
                    or HistoryTypes.StepCompensated or HistoryTypes.CompensationFailed when after.FindStep(entry.Step ?? "") is { } step:
                    RecordStep(step, after, definition);
                    break;
            }
        }
    }

    /// <summary>Records a step's duration once it has reached an outcome (a retry or a scheduled compensation retry records nothing).</summary>
    private static void RecordStep(StepState step, SagaInstance after, KeyValuePair<string, object?> definition)
    {
        var stepTag = new KeyValuePair<string, object?>("step", step.Name);
        switch (step.Status)
        {
            case StepStatus.Succeeded or StepStatus.Failed or StepStatus.TimedOut when step.StartedAt is { } started:
                var finished = step.FinishedAt ?? after.UpdatedAt;
                StepDuration.Record((finished - started).TotalMilliseconds, definition, stepTag, Outcome(step.Status));
                break;
            case StepStatus.Compensated or StepStatus.CompensationFailed when step.CompensationStartedAt is { } compensating:
                var done = step.CompensatedAt ?? after.UpdatedAt;
                CompensationDuration.Record((done - compensating).TotalMilliseconds, definition, stepTag, Outcome(step.Status));
                break;
        }
    }

    private static KeyValuePair<string, object?> Outcome(StepStatus status) => new("outcome", status switch
    {
        StepStatus.Succeeded => "succeeded",
        StepStatus.Failed => "failed",
        StepStatus.TimedOut => "timed_out",
        StepStatus.Compensated => "compensated",
        _ => "compensation_failed",
    });

    private static ActivityTagsCollection Tags(Guid sagaId, string? definition, string? step, int? attempt)
    {
        var tags = new ActivityTagsCollection { ["saga.id"] = sagaId.ToString() };
        if (definition is not null)
        {
            tags["saga.definition"] = definition;
        }

        if (step is not null)
        {
            tags["step"] = step;
        }

        if (attempt is not null)
        {
            tags["attempt"] = attempt.Value;
        }

        return tags;
    }
}


/// <summary>Logger scope state: structured <c>SagaId</c> (and <c>Step</c>) for JSON/OTLP logs, "SagaId:... Step:..." as text.</summary>
internal sealed class SagaLogScope(Guid sagaId, string? step) : IReadOnlyList<KeyValuePair<string, object>>
{
    public int Count => step is null ? 1 : 2;

    public KeyValuePair<string, object> this[int index] => index switch
    {
        0 => new("SagaId", sagaId),
        1 when step is not null => new("Step", step),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => step is null ? $"SagaId:{sagaId}" : $"SagaId:{sagaId} Step:{step}";
}
