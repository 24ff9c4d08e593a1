using System.Collections.Concurrent;
using System.Diagnostics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Sagas.Bench.Throughput.Load;

/// <summary>
/// Starts sagas over RabbitMQ (persistent messages, publisher confirms) and times each one from its start
/// (closed loop: when it was sent; open loop: when it was scheduled) to its terminal message, which every
/// system delivers to the driver's own queue.
/// </summary>
public sealed class LoadDriver : IAsyncDisposable
{
    public const string TerminalQueue = "bench-driver-done";
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);

    private readonly IConnection connection;
    private readonly IChannel[] publishers;
    private readonly IChannel consumer;
    private readonly StartMessage start;
    private readonly ConcurrentDictionary<Guid, Pending> pending = new();
    private int nextPublisher;

    private LoadDriver(IConnection connection, IChannel[] publishers, IChannel consumer, StartMessage start)
    {
        this.connection = connection;
        this.publishers = publishers;
        this.consumer = consumer;
        this.start = start;
    }

    public static async Task<LoadDriver> ConnectAsync(string host, string vhost, StartMessage start, IReadOnlyList<string> terminalExchanges)
    {
        var factory = new ConnectionFactory { HostName = host, VirtualHost = vhost, UserName = "guest", Password = "guest", ClientProvidedName = "bench-driver" };
        var connection = await factory.CreateConnectionAsync();
        var confirms = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
        var publishers = new IChannel[4];
        for (var i = 0; i < publishers.Length; i++)
        {
            publishers[i] = await connection.CreateChannelAsync(confirms);
        }

        var consumer = await connection.CreateChannelAsync();
        await consumer.QueueDeclareAsync(TerminalQueue, durable: true, exclusive: false, autoDelete: false);
        foreach (var exchange in terminalExchanges)
        {
            await consumer.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            await consumer.QueueBindAsync(TerminalQueue, exchange, routingKey: "");
        }

        var driver = new LoadDriver(connection, publishers, consumer, start);
        var events = new AsyncEventingBasicConsumer(consumer);
        events.ReceivedAsync += (_, delivery) =>
        {
            driver.OnTerminal(delivery.Body);
            return Task.CompletedTask;
        };
        await consumer.BasicQosAsync(0, 1000, false);
        await consumer.BasicConsumeAsync(TerminalQueue, autoAck: true, events);
        return driver;
    }

    /// <summary>Waits until the system declared the queue the starts go to (its consumers are then about to run).</summary>
    public async Task WaitForStartQueueAsync(TimeSpan timeout, Func<bool> systemAlive)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            // A failed passive declare closes its channel, so each probe gets a fresh one.
            await using var probe = await connection.CreateChannelAsync();
            try
            {
                await probe.QueueDeclarePassiveAsync(start.Queue);
                return;
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException) when (DateTime.UtcNow < until && systemAlive())
            {
                await Task.Delay(250);
            }
        }
    }

    /// <summary>Concurrency sagas in flight at all times; counts those that end within the window after the warm-up.</summary>
    public async Task<LoadResult> ClosedLoopAsync(int concurrency, TimeSpan warmup, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        var windowStart = warmup;
        var windowEnd = warmup + duration;
        var latencies = new ConcurrentBag<double>();
        int completed = 0, failed = 0, lost = 0, finished = 0;

        async Task Worker()
        {
            while (clock.Elapsed < windowEnd)
            {
                var outcome = await RunOneAsync(clock.Elapsed, clock);
                if (outcome is null)
                {
                    Interlocked.Increment(ref lost);
                    continue;
                }

                Interlocked.Increment(ref finished);
                var (ended, latency, ok) = outcome.Value;
                if (ended < windowStart || ended > windowEnd)
                {
                    continue;
                }

                if (ok)
                {
                    Interlocked.Increment(ref completed);
                    latencies.Add(latency);
                }
                else
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Worker)));
        return new LoadResult("closed", concurrency, 0, completed, failed, lost, finished, duration, Sorted(latencies));
    }

    /// <summary>
    /// Starts sagas at a fixed rate whatever the system does, and measures each from its scheduled start,
    /// so a stall shows up in the latency of every saga it delays (no coordinated omission).
    /// </summary>
    public async Task<LoadResult> OpenLoopAsync(double ratePerSecond, TimeSpan warmup, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        var total = (int)((warmup + duration).TotalSeconds * ratePerSecond);
        var latencies = new ConcurrentBag<double>();
        int completed = 0, failed = 0, lost = 0, finished = 0;
        var running = new List<Task>(total);

        async Task One(TimeSpan scheduled)
        {
            var outcome = await RunOneAsync(scheduled, clock);
            if (outcome is null)
            {
                Interlocked.Increment(ref lost);
                return;
            }

            Interlocked.Increment(ref finished);
            if (scheduled < warmup)
            {
                return;
            }

            if (outcome.Value.Completed)
            {
                Interlocked.Increment(ref completed);
                latencies.Add(outcome.Value.LatencyMs);
            }
            else
            {
                Interlocked.Increment(ref failed);
            }
        }

        for (var i = 0; i < total; i++)
        {
            var scheduled = TimeSpan.FromSeconds(i / ratePerSecond);
            var wait = scheduled - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }

            running.Add(One(scheduled));
        }

        await Task.WhenAll(running);
        return new LoadResult("open", 0, ratePerSecond, completed, failed, lost, finished, duration, Sorted(latencies));
    }

    /// <summary>Starts <paramref name="count"/> sagas as fast as confirms allow and does not wait for them.</summary>
    public async Task StartWithoutWaitingAsync(int count)
    {
        var batch = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            batch.Add(PublishAsync(Guid.NewGuid()));
            if (batch.Count == 256)
            {
                await Task.WhenAll(batch);
                batch.Clear();
            }
        }

        await Task.WhenAll(batch);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in publishers)
        {
            await channel.DisposeAsync();
        }

        await consumer.DisposeAsync();
        await connection.DisposeAsync();
    }

    private static List<double> Sorted(IEnumerable<double> values)
    {
        var list = values.ToList();
        list.Sort();
        return list;
    }

    /// <summary>Starts one saga; its latency counts from <paramref name="scheduled"/>. Null when it did not end in time.</summary>
    private async Task<(TimeSpan Ended, double LatencyMs, bool Completed)?> RunOneAsync(TimeSpan scheduled, Stopwatch clock)
    {
        var id = Guid.NewGuid();
        var entry = new Pending();
        pending[id] = entry;
        await PublishAsync(id);
        bool completed;
        try
        {
            // WaitAsync drops its timer when the saga ends; a Task.Delay beside it would stay queued for the whole
            // timeout and fire long after, one wake-up of the driver per saga that the system under test pays for.
            completed = await entry.Done.Task.WaitAsync(DrainTimeout);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            pending.TryRemove(id, out _);
        }

        var ended = clock.Elapsed;
        return (ended, (ended - scheduled).TotalMilliseconds, completed);
    }

    private async Task PublishAsync(Guid sagaId)
    {
        var (properties, body) = start.Create(sagaId);
        var channel = publishers[(uint)Interlocked.Increment(ref nextPublisher) % publishers.Length];
        await channel.BasicPublishAsync("", start.Queue, mandatory: false, properties, body);
    }

    private void OnTerminal(ReadOnlyMemory<byte> body)
    {
        if (TerminalMessage.TryRead(body, out var id, out var completed) && pending.TryGetValue(id, out var entry))
        {
            entry.Done.TrySetResult(completed);
        }
    }

    private sealed class Pending
    {
        public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
