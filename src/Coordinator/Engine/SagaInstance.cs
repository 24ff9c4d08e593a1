namespace Sagas.Coordinator.Engine;

/// <summary>One running or finished saga: the row the coordinator stores and the Engine's state.</summary>
public sealed class SagaInstance
{
    public Guid Id { get; set; }

    public string Definition { get; set; } = "";

    public int Version { get; set; }

    public SagaState State { get; set; }

    /// <summary>The saga data as a JSON object; step outputs are merged in under the step's name.</summary>
    public string Data { get; set; } = "{}";

    public List<StepState> Steps { get; set; } = [];

    /// <summary>Why the saga compensated or failed.</summary>
    public string? Reason { get; set; }

    public string? BusinessKey { get; set; }

    public string? Tenant { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>The earliest timer: a step timeout, a retry back-off or the saga deadline. Polled from the database.</summary>
    public DateTimeOffset? NextWakeAt { get; set; }

    public DateTimeOffset? DeadlineAt { get; set; }

    /// <summary>The last history sequence number written.</summary>
    public int HistorySequence { get; set; }

    /// <summary>Why the saga is rolling back: StepFailure, Timeout, Cancel or Deadline; null while it goes forward.</summary>
    public string? CompensationTrigger { get; set; }

    /// <summary>The state to return to on resume.</summary>
    public SagaState? PausedFrom { get; set; }

    /// <summary>Replies that arrived while paused, applied in order on resume.</summary>
    public List<DeferredReply> Deferred { get; set; } = [];

    /// <summary>Signals received, consumed by wait steps; kept when nothing waits for them yet.</summary>
    public List<ReceivedSignal> Signals { get; set; } = [];

    /// <summary>Optimistic concurrency version, bumped on every change.</summary>
    public int ConcurrencyVersion { get; set; }

    public SagaInstance Clone()
    {
        var copy = (SagaInstance)MemberwiseClone();
        copy.Steps = StepState.CopyAll(Steps);
        copy.Deferred = [.. Deferred];
        copy.Signals = [.. Signals];
        return copy;
    }

    public StepState? FindStep(string name) => Steps.Find(s => string.Equals(s.Name, name, StringComparison.Ordinal));
}

/// <summary>A participant reply held back while the saga was paused.</summary>
public sealed record DeferredReply(string Type, string Json, DateTimeOffset ReceivedAt);

/// <summary>A named signal and its payload (a JSON object), with whether a wait step has taken it.</summary>
public sealed record ReceivedSignal(string Name, string? Payload, DateTimeOffset ReceivedAt, string Actor, bool Consumed);
