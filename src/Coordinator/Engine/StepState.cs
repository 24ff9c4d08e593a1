namespace Sagas.Coordinator.Engine;

/// <summary>
/// Where one step of one saga stands. Stored with the saga as JSON. A record: change detection compares two lists of
/// steps field by field through the generated equality, so a field added here is compared without anything else to update.
/// </summary>
public sealed record StepState
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

    /// <summary>A copy of every step (a snapshot EF compares the saga's steps with when it saves).</summary>
    public static List<StepState> CopyAll(List<StepState> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        return steps.ConvertAll(static s => s with { });
    }
}
