using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// Plain AMQP 0-9-1 access to a fixture's vhost, the way a non-.NET client sees the broker: publish hand-written
/// bodies, read what MassTransit moved to <c>_error</c> / <c>_skipped</c> queues.
/// </summary>
public sealed class RawBroker : IAsyncDisposable
{
    public const string EnvelopeContentType = "application/vnd.masstransit+json";

    // Messages read from a dead-letter queue while looking for another one, by queue and message id.
    private static readonly ConcurrentDictionary<(string Queue, string MessageId), MovedMessage> Seen = new();

    private readonly IConnection _connection;

    private RawBroker(IConnection connection) => _connection = connection;

    public static async Task<RawBroker> ConnectAsync(Uri broker)
    {
        var factory = new ConnectionFactory { Uri = broker, ClientProvidedName = "sagas-tests-raw" };
        return new RawBroker(await factory.CreateConnectionAsync());
    }

    public IConnection Connection => _connection;

    /// <summary>Publishes to the default exchange with routing key <paramref name="queue"/>, persistent, with publisher confirms.</summary>
    public async Task PublishAsync(string queue, ReadOnlyMemory<byte> body, string messageId, string? contentType = EnvelopeContentType)
    {
        await using var channel = await _connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var properties = new BasicProperties
        {
            MessageId = messageId,
            ContentType = contentType,
            DeliveryMode = DeliveryModes.Persistent,
        };
        await channel.BasicPublishAsync(exchange: "", routingKey: queue, mandatory: true, basicProperties: properties, body: body);
    }

    public Task PublishAsync(string queue, string body, string messageId, string? contentType = EnvelopeContentType) =>
        PublishAsync(queue, Encoding.UTF8.GetBytes(body), messageId, contentType);

    /// <summary>Waits for the message with <paramref name="messageId"/> to show up in <paramref name="queue"/> and takes it off.</summary>
    public async Task<MovedMessage> WaitForMessageAsync(string queue, string messageId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var others = new List<string>();
        while (true)
        {
            if (Seen.TryRemove((queue, messageId), out var found))
            {
                return found;
            }

            try
            {
                await using var channel = await _connection.CreateChannelAsync();
                while (await channel.BasicGetAsync(queue, autoAck: true) is { } result)
                {
                    var moved = MovedMessage.From(result);
                    if (moved.MessageId == messageId)
                    {
                        return moved;
                    }

                    others.Add(moved.MessageId ?? "(no id)");
                    Seen[(queue, moved.MessageId ?? Guid.NewGuid().ToString())] = moved;
                }
            }
            catch (OperationInterruptedException)
            {
                // The queue does not exist yet: nothing has been moved there so far.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"message {messageId} did not arrive in {queue} within {timeout.TotalSeconds:0} s; saw {others.Count} other(s): {string.Join(", ", others)}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Messages now in <paramref name="queue"/>, or -1 when the queue does not exist.</summary>
    public async Task<long> CountAsync(string queue)
    {
        try
        {
            await using var channel = await _connection.CreateChannelAsync();
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (OperationInterruptedException)
        {
            return -1;
        }
    }

    /// <summary>A private queue bound to the fanout exchange MassTransit publishes <paramref name="exchange"/> messages on.</summary>
    public async Task<string> SubscribeAsync(string exchange)
    {
        await using var channel = await _connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        var queue = $"sagas-tests-{Guid.NewGuid():N}";
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-expires"] = 300_000 });
        await channel.QueueBindAsync(queue, exchange, routingKey: "");
        return queue;
    }

    /// <summary>Takes the first message in <paramref name="queue"/> whose body contains <paramref name="text"/>.</summary>
    public async Task<MovedMessage> WaitForBodyContainingAsync(string queue, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            await using (var channel = await _connection.CreateChannelAsync())
            {
                while (await channel.BasicGetAsync(queue, autoAck: true) is { } result)
                {
                    var message = MovedMessage.From(result);
                    if (message.Body.Contains(text, StringComparison.Ordinal))
                    {
                        return message;
                    }
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no message containing '{text}' in {queue} within {timeout.TotalSeconds:0} s");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>A MassTransit JSON envelope as docs/wire-protocol.md describes it, written by hand.</summary>
    public static string Envelope(Guid messageId, string messageType, JsonObject message, Uri broker, Guid? sagaId = null)
    {
        var host = $"rabbitmq://{broker.Host}{broker.AbsolutePath}";
        var envelope = new JsonObject
        {
            ["messageId"] = messageId.ToString(),
            ["correlationId"] = Guid.NewGuid().ToString(),
            ["conversationId"] = Guid.NewGuid().ToString(),
            ["sourceAddress"] = $"{host.TrimEnd('/')}/raw-test-client",
            ["destinationAddress"] = $"{host.TrimEnd('/')}/sagas-coordinator",
            ["messageType"] = new JsonArray(messageType),
            ["message"] = message,
            ["headers"] = sagaId is { } id ? new JsonObject { ["Sagas-SagaId"] = id.ToString() } : new JsonObject(),
            ["sentTime"] = DateTime.UtcNow.ToString("O"),
        };
        return envelope.ToJsonString();
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}

/// <summary>A message taken off a queue: its id, headers (strings decoded) and body.</summary>
public sealed record MovedMessage(string? MessageId, IReadOnlyDictionary<string, string> Headers, string Body, int BodyBytes)
{
    public static MovedMessage From(BasicGetResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in result.BasicProperties.Headers ?? new Dictionary<string, object?>())
        {
            headers[key] = value switch
            {
                byte[] bytes => Encoding.UTF8.GetString(bytes),
                null => "",
                _ => value.ToString() ?? "",
            };
        }

        var body = result.Body.ToArray();
        return new MovedMessage(result.BasicProperties.MessageId, headers, Encoding.UTF8.GetString(body), body.Length);
    }

    public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : "";

    public override string ToString() => $"{MessageId}: {string.Join(", ", Headers.Where(h => h.Key != "MT-Fault-StackTrace").Select(h => $"{h.Key}={h.Value}"))}";
}
