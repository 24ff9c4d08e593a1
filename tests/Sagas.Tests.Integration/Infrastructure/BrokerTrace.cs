using RabbitMQ.Client;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// RabbitMQ's firehose on one vhost: with tracing on, the broker copies every message published in the vhost (and
/// every delivery) to <c>amq.rabbitmq.trace</c>; a queue bound there with <c>#</c> sees every body that crossed the
/// broker, whoever sent it. Turned off again on dispose.
/// </summary>
public sealed class BrokerTrace : IAsyncDisposable
{
    private const string TraceExchange = "amq.rabbitmq.trace";
    private readonly RawBroker _broker;
    private readonly string _vhost;
    private readonly string _queue = $"sagas-tests-trace-{Guid.NewGuid():N}";

    private BrokerTrace(RawBroker broker, string vhost)
    {
        _broker = broker;
        _vhost = vhost;
    }

    public static async Task<BrokerTrace> StartAsync(Uri brokerUri)
    {
        ArgumentNullException.ThrowIfNull(brokerUri);
        var vhost = Uri.UnescapeDataString(brokerUri.AbsolutePath.TrimStart('/'));
        var broker = await RawBroker.ConnectAsync(brokerUri);
        var trace = new BrokerTrace(broker, vhost);
        await using (var channel = await broker.Connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(trace._queue, durable: false, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(trace._queue, TraceExchange, routingKey: "#");
        }

        var (code, output) = await RabbitCtl.RunAsync("trace_on", "-p", vhost);
        if (code != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl trace_on failed: {output}");
        }

        return trace;
    }

    /// <summary>Every traced message so far (routing key is publish.&lt;exchange&gt; or deliver.&lt;queue&gt;), taken off the trace queue.</summary>
    public async Task<IReadOnlyList<TracedMessage>> DrainAsync()
    {
        var messages = new List<TracedMessage>();
        await using var channel = await _broker.Connection.CreateChannelAsync();
        while (await channel.BasicGetAsync(_queue, autoAck: true) is { } result)
        {
            messages.Add(new TracedMessage(result.RoutingKey, result.Body.ToArray()));
        }

        return messages;
    }

    public async ValueTask DisposeAsync()
    {
        await RabbitCtl.RunAsync("trace_off", "-p", _vhost);
        await using (var channel = await _broker.Connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(_queue);
        }

        await _broker.DisposeAsync();
    }
}

public sealed record TracedMessage(string RoutingKey, byte[] Body)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Body);
}
