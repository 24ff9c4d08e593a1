using System.Text.Json;

namespace Sagas.Bench.Throughput.Load;

/// <summary>Reads the saga id and outcome from whatever terminal message a system sends the driver.</summary>
public static class TerminalMessage
{
    private static readonly string[] IdNames = ["sagaId", "SagaId", "trackingNumber", "TrackingNumber"];

    /// <summary>
    /// MassTransit envelopes carry the type in <c>messageType</c> and the body under <c>message</c>
    /// (ours: SagaCompleted / SagaCompensated / SagaFailed; Courier: RoutingSlipCompleted / RoutingSlipFaulted;
    /// the state machine: OrderFinished); Wolverine sends the plain OrderFinished JSON.
    /// </summary>
    public static bool TryRead(ReadOnlyMemory<byte> body, out Guid sagaId, out bool completed)
    {
        sagaId = Guid.Empty;
        completed = false;
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        var message = root.TryGetProperty("message", out var inner) ? inner : root;
        foreach (var name in IdNames)
        {
            if (message.TryGetProperty(name, out var id) && id.TryGetGuid(out sagaId))
            {
                break;
            }
        }

        if (sagaId == Guid.Empty)
        {
            return false;
        }

        if (Flag(message, "completed") is { } flag)
        {
            completed = flag;
        }
        else if (root.TryGetProperty("messageType", out var types))
        {
            completed = types.EnumerateArray().Any(t => t.GetString() is { } urn && urn.EndsWith("Completed", StringComparison.Ordinal));
        }

        return true;
    }

    private static bool? Flag(JsonElement message, string name)
    {
        foreach (var property in message.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return property.Value.GetBoolean();
            }
        }

        return null;
    }
}
