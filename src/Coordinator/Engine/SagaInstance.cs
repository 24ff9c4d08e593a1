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

    /// <summary>Optimistic concurrency version, bumped on every change.</summary>
    public int ConcurrencyVersion { get; set; }

    public SagaInstance Clone()
    {
        var copy = (SagaInstance)MemberwiseClone();
        copy.Steps = Steps.ConvertAll(s => s.Clone());
        return copy;
    }

    public StepState? FindStep(string name) => Steps.Find(s => string.Equals(s.Name, name, StringComparison.Ordinal));
}
