namespace Sagas.Coordinator.Persistence;

/// <summary>A stored history entry (append-only).</summary>
public sealed class HistoryRecord
{
    public long Id { get; set; }

    public Guid SagaId { get; set; }

    public int Sequence { get; set; }

    public DateTimeOffset At { get; set; }

    public string Type { get; set; } = "";

    public string? Step { get; set; }

    public int? Attempt { get; set; }

    public string? Detail { get; set; }

    public string Actor { get; set; } = "";
}

/// <summary>A consumed message id, written in the same transaction as the state change it caused.</summary>
public sealed class InboxRecord
{
    public Guid MessageId { get; set; }

    public Guid SagaId { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }
}

/// <summary>A message to send once its transaction has committed; deleted after the broker confirms it.</summary>
public sealed class OutboxRecord
{
    public long Id { get; set; }

    public Guid MessageId { get; set; }

    public Guid SagaId { get; set; }

    /// <summary>A queue name, or null to publish an event.</summary>
    public string? Queue { get; set; }

    public string MessageType { get; set; } = "";

    public string Body { get; set; } = "";

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A registered definition version. Versions are immutable once stored.</summary>
public sealed class DefinitionRecord
{
    public string Name { get; set; } = "";

    public int Version { get; set; }

    public string Json { get; set; } = "";

    public DateTimeOffset RegisteredAt { get; set; }
}
