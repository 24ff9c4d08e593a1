namespace Sagas.Coordinator.Engine;

/// <summary>An operator's action on one saga. Every one carries who did it and why, and lands in the history.</summary>
public abstract record OperatorCommand(string Actor, string Reason)
{
    /// <summary>Compensate what ran; the saga ends Cancelled.</summary>
    public sealed record Cancel(string Actor, string Reason) : OperatorCommand(Actor, Reason);

    /// <summary>Send no new commands; replies are still recorded and applied on resume.</summary>
    public sealed record Pause(string Actor, string Reason) : OperatorCommand(Actor, Reason);

    public sealed record Resume(string Actor, string Reason) : OperatorCommand(Actor, Reason);

    /// <summary>Retry a failed or waiting step or compensation now; <paramref name="Step"/> picks one when several could be meant.</summary>
    public sealed record Retry(string Actor, string Reason, string? Step) : OperatorCommand(Actor, Reason);

    /// <summary>Mark a compensation in doubt or failed as resolved by hand, so the rollback can go on.</summary>
    public sealed record SkipCompensation(string Actor, string Reason, string Step) : OperatorCommand(Actor, Reason);

    /// <summary>A named outside event with an optional JSON object payload.</summary>
    public sealed record Signal(string Actor, string Reason, string Name, string? Payload) : OperatorCommand(Actor, Reason);

    /// <summary>Moves (or with null removes) the saga deadline.</summary>
    public sealed record ChangeDeadline(string Actor, string Reason, DateTimeOffset? DeadlineAt) : OperatorCommand(Actor, Reason);
}
