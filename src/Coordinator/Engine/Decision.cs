namespace Sagas.Coordinator.Engine;

/// <summary>What the Engine decided: the new state, what to send, and what to write in the history. Nothing happened yet.</summary>
public sealed record Decision(SagaInstance Instance, IReadOnlyList<OutgoingMessage> Messages, IReadOnlyList<HistoryEntry> History)
{
    /// <summary>False when the event changed nothing (a timer that was not due, say): nothing to store.</summary>
    public bool Changed => History.Count > 0 || Messages.Count > 0;
}
