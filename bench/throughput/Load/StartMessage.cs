using System.Text.Json;
using RabbitMQ.Client;

namespace Sagas.Bench.Throughput.Load;

/// <summary>How the driver asks a system to start one saga: the bytes and where to publish them.</summary>
public sealed class StartMessage
{
    private static readonly JsonSerializerOptions CamelCase = new(JsonSerializerDefaults.Web);

    private readonly Func<Guid, object> message;
    private readonly string? messageTypeUrn;

    private StartMessage(string queue, Func<Guid, object> message, string? messageTypeUrn)
    {
        Queue = queue;
        this.message = message;
        this.messageTypeUrn = messageTypeUrn;
    }

    /// <summary>The queue the start goes to, through the default exchange.</summary>
    public string Queue { get; }

    /// <summary>A MassTransit JSON envelope (what ours and the MassTransit peers read), as in docs/wire-protocol.md.</summary>
    public static StartMessage MassTransit(string queue, string messageTypeUrn, Func<Guid, object> message) => new(queue, message, messageTypeUrn);

    /// <summary>Plain JSON of the message itself (what a Wolverine listener with a default message type reads).</summary>
    public static StartMessage RawJson(string queue, Func<Guid, object> message) => new(queue, message, null);

    public (BasicProperties Properties, byte[] Body) Create(Guid sagaId)
    {
        var messageId = Guid.NewGuid();
        var properties = new BasicProperties { Persistent = true, MessageId = messageId.ToString() };
        if (messageTypeUrn is null)
        {
            properties.ContentType = "application/json";
            return (properties, JsonSerializer.SerializeToUtf8Bytes(message(sagaId), CamelCase));
        }

        properties.ContentType = "application/vnd.masstransit+json";
        var envelope = new
        {
            messageId,
            conversationId = messageId,
            destinationAddress = $"rabbitmq://localhost/{Queue}",
            messageType = new[] { messageTypeUrn },
            message = message(sagaId),
            headers = new Dictionary<string, object>(),
            sentTime = DateTime.UtcNow,
        };
        return (properties, JsonSerializer.SerializeToUtf8Bytes(envelope, CamelCase));
    }
}
