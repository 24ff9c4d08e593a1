namespace Sagas.Coordinator.Engine;

/// <summary>Where one step of one saga stands. Stored with the saga as JSON.</summary>
public sealed class StepState
{
    public string Name { get; set; } = "";

    public StepStatus Status { get; set; } = StepStatus.Pending;

    /// <summary>Action attempts sent so far.</summary>
    public int Attempts { get; set; }

    public int CompensationAttempts { get; set; }

    /// <summary>When the running attempt times out, or when the scheduled retry is due.</summary>
    public DateTimeOffset? DueAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public DateTimeOffset? CompensationStartedAt { get; set; }

    public DateTimeOffset? CompensatedAt { get; set; }

    public string? LastError { get; set; }

    public StepState Clone() => (StepState)MemberwiseClone();
}
