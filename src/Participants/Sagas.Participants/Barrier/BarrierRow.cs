namespace Sagas.Participants;

/// <summary>One row of <c>saga_barrier</c>: the first arrival of an action or compensation for (saga, step) and how it ended.</summary>
public sealed class BarrierRow
{
    public Guid SagaId { get; set; }

    public string Step { get; set; } = "";

    /// <summary><see cref="BarrierOps.Action"/> or <see cref="BarrierOps.Compensation"/>.</summary>
    public string Op { get; set; } = "";

    /// <summary>One of <see cref="BarrierOutcomes"/>.</summary>
    public string Outcome { get; set; } = "";

    public string? Reason { get; set; }

    /// <summary>The action's output as JSON text, replayed verbatim to duplicates; for an accepted action, its <see cref="AcceptedWork"/>.</summary>
    public string? Output { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

public static class BarrierOps
{
    public const string Action = "action";
    public const string Compensation = "compensation";
}

public static class BarrierOutcomes
{
    /// <summary>Never committed: the row exists only while its transaction runs.</summary>
    public const string Pending = "pending";
    public const string Succeeded = "succeeded";

    /// <summary>
    /// Long work accepted, outcome not yet reported. <see cref="BarrierRow.Output"/> then holds the acceptance
    /// (<see cref="AcceptedWork"/>: the latest attempt seen and the heartbeat extension), replaced by the real output on success.
    /// </summary>
    public const string Accepted = "accepted";
    public const string Failed = "failed";

    /// <summary>Action row written by a compensation that came first: the late action must not run.</summary>
    public const string Refused = "refused";
    public const string Compensated = "compensated";

    /// <summary>Compensation row when there was nothing to undo (action missing, failed or refused).</summary>
    public const string NothingToUndo = "nothing_to_undo";
}
