using System.Text;
using System.Text.Json.Nodes;
using RabbitMQ.Client;

namespace Sagas.Chaos;

/// <summary>Publishes raw messages straight into the run's queues (default exchange, publisher confirms), in MassTransit's JSON envelope.</summary>
public sealed class Broker(Uri vhostUri) : IAsyncDisposable
{
    public const string ContentType = "application/vnd.masstransit+json";
    private IConnection? _connection;
    private IChannel? _channel;

    public static readonly IReadOnlyList<string> Queues = ["sagas-coordinator", "inventory", "payments", "shipping"];

    public async Task ConnectAsync(CancellationToken ct)
    {
        var factory = new ConnectionFactory { Uri = vhostUri, ClientProvidedName = "sagas-chaos", RequestedConnectionTimeout = TimeSpan.FromSeconds(5) };
        _connection = await factory.CreateConnectionAsync(ct);
        _channel = await _connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct);
    }

    public async Task PublishAsync(string queue, byte[] body, string? messageId = null, string contentType = ContentType, CancellationToken ct = default)
    {
        var channel = _channel ?? throw new InvalidOperationException("not connected");
        var props = new BasicProperties
        {
            ContentType = contentType,
            MessageId = messageId ?? Guid.NewGuid().ToString(),
            DeliveryMode = DeliveryModes.Persistent,
        };
        await channel.BasicPublishAsync("", queue, mandatory: false, props, body, ct);
    }

    /// <summary>Messages waiting in a queue and consumers attached to it (a passive declare, on a channel of its own).</summary>
    public async Task<(uint Messages, uint Consumers)> InspectAsync(string queue, CancellationToken ct)
    {
        var connection = _connection ?? throw new InvalidOperationException("not connected");
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        var ok = await channel.QueueDeclarePassiveAsync(queue, ct);
        return (ok.MessageCount, ok.ConsumerCount);
    }

    /// <summary>A well-formed envelope (docs/wire-protocol.md); returns the message id used.</summary>
    public async Task<Guid> PublishEnvelopeAsync(string queue, string messageType, JsonNode message, Guid sagaId, Guid? messageId = null, CancellationToken ct = default)
    {
        var id = messageId ?? Guid.NewGuid();
        var envelope = Envelope(queue, messageType, message, sagaId, id);
        await PublishAsync(queue, Encoding.UTF8.GetBytes(envelope.ToJsonString()), id.ToString(), ContentType, ct);
        return id;
    }

    public static JsonObject Envelope(string queue, string messageType, JsonNode message, Guid sagaId, Guid messageId) => new()
    {
        ["messageId"] = messageId.ToString(),
        ["correlationId"] = Guid.NewGuid().ToString(),
        ["conversationId"] = Guid.NewGuid().ToString(),
        ["sourceAddress"] = "rabbitmq://localhost/sagas-chaos",
        ["destinationAddress"] = $"rabbitmq://localhost/{queue}",
        ["messageType"] = new JsonArray("urn:message:Sagas.Contracts:" + messageType),
        ["message"] = message,
        ["headers"] = new JsonObject { ["Sagas-SagaId"] = sagaId.ToString() },
        ["sentTime"] = DateTimeOffset.UtcNow.ToString("O"),
    };

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null)
        {
            try
            {
                await _channel.CloseAsync();
            }
            catch (Exception)
            {
                // The broker may be gone; nothing to keep.
            }

            _channel.Dispose();
        }

        if (_connection is not null)
        {
            try
            {
                await _connection.CloseAsync();
            }
            catch (Exception)
            {
                // As above.
            }

            _connection.Dispose();
        }
    }
}
