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

    /// <summary>
    /// Messages the coordinator's own queue processes at once (participants use <see cref="ConcurrentMessageLimit"/>).
    /// Higher than a participant's: on PostgreSQL the replies in hand are applied together (group commit), so more
    /// of them at once means fewer, larger transactions.
    /// </summary>
    public int CoordinatorConcurrentMessageLimit { get; set; } = 64;

    /// <summary>Messages fetched ahead by the coordinator's queue.</summary>
    public int CoordinatorPrefetchCount { get; set; } = 128;

    /// <summary>
    /// How long a stopping receive endpoint waits for the messages in hand before it cancels them. An endpoint stops
    /// on shutdown and also whenever its channel drops: without a bound, a handler stuck sending its reply over the
    /// lost connection holds the endpoint stopped, and it never reconnects.
    /// </summary>
    public TimeSpan ConsumerStopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long stopping an endpoint or the bus may take in all; at least <see cref="ConsumerStopTimeout"/>.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Where to send a message for <paramref name="queue"/>. Normally the queue itself (declared on first send, so
    /// nothing is lost before its consumer starts). With quorum queues the send goes to the endpoint's fanout
    /// exchange instead: declaring the queue from the sending side would clash with its quorum arguments.
    /// </summary>
    public Uri AddressOf(string queue) => new(QuorumQueues && Kind == TransportKind.RabbitMq ? $"exchange:{queue}" : $"queue:{queue}");
}

public enum TransportKind
{
    InMemory,
    RabbitMq,
}
