using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Sagas.Bench.Throughput.Limits;

/// <summary>
/// The broker's limit: a "saga" is a chain of N persistent messages through durable queues, each hop consumed
/// (manual ack), published to the next queue with a publisher confirm, then acknowledged. No database, no
/// framework: the most any system can get from this RabbitMQ with the same number of messages per saga.
/// </summary>
public static class RabbitRelay
{
    public const string FirstQueue = "bench-raw-0";

    public static async Task<int> RunAsync()
    {
        var host = Environment.GetEnvironmentVariable("BENCH_RABBITMQ_HOST") ?? "127.0.0.1";
        var vhost = Environment.GetEnvironmentVariable("BENCH_VHOST") ?? "bench";
        var messages = int.Parse(Environment.GetEnvironmentVariable("BENCH_MESSAGES_PER_SAGA") ?? "8", System.Globalization.CultureInfo.InvariantCulture);
        // The driver publishes the first message; every relay hop publishes one more, the last one to the driver.
        var hops = Math.Max(1, messages - 1);

        // Same concurrency per queue as the MassTransit endpoints (ConcurrentMessageLimit 16, prefetch 32).
        var factory = new ConnectionFactory { HostName = host, VirtualHost = vhost, UserName = "guest", Password = "guest", ConsumerDispatchConcurrency = 16 };
        await using var connection = await factory.CreateConnectionAsync();
        var confirms = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
        var channels = new List<IChannel>();
        for (var hop = 0; hop < hops; hop++)
        {
            var next = hop == hops - 1 ? Load.LoadDriver.TerminalQueue : $"bench-raw-{hop + 1}";
            var channel = await connection.CreateChannelAsync(confirms);
            channels.Add(channel);
            await channel.QueueDeclareAsync($"bench-raw-{hop}", durable: true, exclusive: false, autoDelete: false);
            await channel.QueueDeclareAsync(next, durable: true, exclusive: false, autoDelete: false);
            await channel.BasicQosAsync(0, 32, false);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += async (_, delivery) =>
            {
                var properties = new BasicProperties { Persistent = true, ContentType = "application/json", MessageId = Guid.NewGuid().ToString() };
                await channel.BasicPublishAsync("", next, mandatory: false, properties, delivery.Body.ToArray());
                await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
            };
            await channel.BasicConsumeAsync($"bench-raw-{hop}", autoAck: false, consumer);
        }

        var stop = new TaskCompletionSource();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
        await stop.Task;
        foreach (var channel in channels)
        {
            await channel.DisposeAsync();
        }

        return 0;
    }

}
