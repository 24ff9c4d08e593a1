namespace Sagas.Coordinator.Engine;

/// <summary>What the Engine decided: the new state, what to send, and what to write in the history. Nothing happened yet.</summary>
public sealed record Decision(SagaInstance Instance, IReadOnlyList<OutgoingMessage> Messages, IReadOnlyList<HistoryEntry> History)
{
    /// <summary>Set when an operator action does not fit the saga's state: nothing was applied, this says why.</summary>
    public string? Rejection { get; init; }

    /// <summary>Something the caller should be told that is not an error (a signal nobody waits for yet, say).</summary>
    public string? Note { get; init; }

    /// <summary>False when the event changed nothing (a timer that was not due, say): nothing to store.</summary>
    public bool Changed => History.Count > 0 || Messages.Count > 0;
}
