namespace Sagas.Participants.Transport;

/// <summary>Which broker carries the messages. Bound from the <see cref="Section"/> configuration section.</summary>
public sealed class TransportOptions
{
    public const string Section = "Sagas:Transport";

    /// <summary><c>InMemory</c> (embedded mode, one process) or <c>RabbitMq</c>.</summary>
    public TransportKind Kind { get; set; } = TransportKind.InMemory;

    /// <summary>AMQP URI of the broker, e.g. <c>amqp://guest:guest@127.0.0.1:5672/</c>.</summary>
    public Uri RabbitMqUri { get; set; } = new("amqp://guest:guest@127.0.0.1:5672/");

    /// <summary>Declare queues as quorum queues (replicated; works on a single node too).</summary>
    public bool QuorumQueues { get; set; }

    /// <summary>Messages fetched ahead per consumer.</summary>
    public int PrefetchCount { get; set; } = 32;

    /// <summary>Messages processed at once per receive endpoint.</summary>
    public int ConcurrentMessageLimit { get; set; } = 16;
}

public enum TransportKind
{
    InMemory,
    RabbitMq,
}
