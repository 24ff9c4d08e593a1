using System.Text;
using System.Text.Json.Nodes;

namespace Sagas.Chaos;

/// <summary>Messages nobody can act on, mixed into every queue: every receiver must survive them and move them aside.</summary>
public static class Poison
{
    public const int OversizedBytes = 2 * 1024 * 1024;

    /// <summary>Publishes one of each kind into every queue; returns how many were published.</summary>
    public static async Task<int> PublishBurstAsync(Broker broker, Random random, CancellationToken ct)
    {
        var count = 0;
        foreach (var queue in Broker.Queues)
        {
            var isCoordinator = queue == "sagas-coordinator";
            var stranger = RandomGuid(random);

            // 1. Not JSON at all.
            await broker.PublishAsync(queue, Encoding.UTF8.GetBytes("{\"messageId\": \"oops\", this is not json"), ct: ct);

            // 2. JSON, but not an envelope.
            await broker.PublishAsync(queue, Encoding.UTF8.GetBytes("[1, 2, 3]"), ct: ct);

            // 3. An envelope of a type nobody consumes.
            await broker.PublishAsync(queue, Encoding.UTF8.GetBytes(Broker.Envelope(queue, "ChaosUnknownType", new JsonObject { ["x"] = 1 }, stranger, Guid.NewGuid())
                .ToJsonString().Replace("urn:message:Sagas.Contracts:ChaosUnknownType", "urn:message:Chaos.Nowhere:Unknown", StringComparison.Ordinal)), ct: ct);

            // 4. A known type with the fields missing or of the wrong type.
            var known = isCoordinator ? "StepSucceeded" : "ExecuteStep";
            await broker.PublishEnvelopeAsync(queue, known, new JsonObject { ["sagaId"] = 42, ["step"] = new JsonArray(), ["attempt"] = "many" }, stranger, ct: ct);

            // 5. Oversized (2 MB): a known type for a saga nobody started, with an action nobody has.
            var padding = new string('x', OversizedBytes);
            JsonNode big = isCoordinator
                ? new JsonObject { ["sagaId"] = stranger.ToString(), ["step"] = "reserve-stock", ["attempt"] = 1, ["output"] = new JsonObject { ["padding"] = padding } }
                : new JsonObject
                {
                    ["sagaId"] = stranger.ToString(),
                    ["definition"] = "chaos-poison",
                    ["version"] = 1,
                    ["step"] = "poison",
                    ["action"] = "chaos-no-such-action",
                    ["attempt"] = 1,
                    ["data"] = new JsonObject { ["padding"] = padding },
                };
            await broker.PublishEnvelopeAsync(queue, known, big, stranger, ct: ct);

            // 6. Bytes that are not UTF-8.
            await broker.PublishAsync(queue, [0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1], ct: ct);

            // 7. A content type nobody reads.
            await broker.PublishAsync(queue, Encoding.UTF8.GetBytes("hello"), contentType: "text/plain", ct: ct);

            // 8. Empty body.
            await broker.PublishAsync(queue, [], ct: ct);
            count += 8;
        }

        return count;
    }

    public static Guid RandomGuid(Random random)
    {
        var bytes = new byte[16];
        random.NextBytes(bytes);
        bytes[7] = (byte)((bytes[7] & 0x0f) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3f) | 0x80);
        return new Guid(bytes);
    }
}
