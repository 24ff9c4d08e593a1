using System.Text.Json;

namespace Sagas.Bench.Throughput.Peers;

/// <summary>What a peer host process gets from the driver, through environment variables.</summary>
public sealed record PeerSettings(string RabbitMqHost, string VirtualHost, string StepsConnectionString, string StoreConnectionString)
{
    // Same as ours (Sagas:Transport defaults), so every MassTransit-based system gets the same concurrency.
    public const int PrefetchCount = 32;
    public const int ConcurrentMessageLimit = 16;

    public static PeerSettings FromEnvironment() => new(
        Environment.GetEnvironmentVariable("BENCH_RABBITMQ_HOST") ?? "127.0.0.1",
        Environment.GetEnvironmentVariable("BENCH_VHOST") ?? "bench",
        Environment.GetEnvironmentVariable("BENCH_STEPS_DB") ?? throw new InvalidOperationException("BENCH_STEPS_DB is not set"),
        Environment.GetEnvironmentVariable("BENCH_STORE_DB") ?? "");

    public Uri RabbitMqUri => new($"amqp://guest:guest@{RabbitMqHost}:5672/{VirtualHost}");

    /// <summary>
    /// Ours writes MassTransit's envelopes without indentation (TransportRegistration); the MassTransit peers get the
    /// same serializer setting, so the comparison is between designs, not between JSON layouts.
    /// </summary>
    public static JsonSerializerOptions WithoutIndentation(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.WriteIndented = false;
        return options;
    }
}
