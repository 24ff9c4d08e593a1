using System.Collections.Frozen;
using System.Text.Json;
using Sagas.Contracts;

namespace Sagas.Coordinator.Messaging;

/// <summary>The messages the coordinator stores in its outbox, by stable name.</summary>
public static class MessageTypes
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly FrozenDictionary<string, Type> ByName = new[]
    {
        typeof(ExecuteStep), typeof(CompensateStep), typeof(SagaCompleted), typeof(SagaCompensated),
        typeof(SagaFailed), typeof(SagaCancelled), typeof(SagaStartRejected),
    }.ToFrozenDictionary(t => t.Name, t => t, StringComparer.Ordinal);

    public static Type Resolve(string name) =>
        ByName.TryGetValue(name, out var type) ? type : throw new InvalidOperationException($"Unknown outbox message type '{name}'");

    public static string NameOf(object message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var name = message.GetType().Name;
        return ByName.ContainsKey(name) ? name : throw new InvalidOperationException($"{name} cannot go through the outbox");
    }

    public static string Serialize(object message) => JsonSerializer.Serialize(message, message.GetType(), Json);

    public static object Deserialize(string name, string body) =>
        JsonSerializer.Deserialize(body, Resolve(name), Json) ?? throw new InvalidOperationException($"Empty outbox body for {name}");
}
