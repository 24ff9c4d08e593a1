using System.Text.Json;
using Sagas.Contracts;

namespace Sagas.Coordinator.Engine;

/// <summary>Stores the Engine's inputs as (kind, JSON) and reads them back, for replay.</summary>
public static class SagaEventCodec
{
    public const string StartKind = "Start";
    public const string TickKind = "Tick";
    private const string OperatorPrefix = "Operator.";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly Dictionary<string, Type> Types = new[]
    {
        typeof(StepSucceeded), typeof(StepFailed), typeof(StepCompensated), typeof(CompensationFailed), typeof(StepHeartbeat),
        typeof(OperatorCommand.Cancel), typeof(OperatorCommand.Pause), typeof(OperatorCommand.Resume), typeof(OperatorCommand.Retry),
        typeof(OperatorCommand.SkipCompensation), typeof(OperatorCommand.Signal), typeof(OperatorCommand.ChangeDeadline),
    }.ToDictionary(t => t.DeclaringType == typeof(OperatorCommand) ? OperatorPrefix + t.Name : t.Name, StringComparer.Ordinal);

    public static (string Kind, string Json) Encode(StartRequest start) => (StartKind, JsonSerializer.Serialize(start, Json));

    public static (string Kind, string Json) Encode(SagaEvent evt) => evt switch
    {
        SagaEvent.Tick => (TickKind, "{}"),
        SagaEvent.Reply r => (r.Message.GetType().Name, JsonSerializer.Serialize(r.Message, r.Message.GetType(), Json)),
        SagaEvent.Operator o => (OperatorPrefix + o.Command.GetType().Name, JsonSerializer.Serialize(o.Command, o.Command.GetType(), Json)),
        _ => throw new ArgumentException($"Cannot encode {evt?.GetType().Name}", nameof(evt)),
    };

    public static StartRequest DecodeStart(string json) =>
        JsonSerializer.Deserialize<StartRequest>(json, Json) ?? throw new InvalidOperationException("empty start event");

    public static SagaEvent Decode(string kind, string json)
    {
        if (kind == TickKind)
        {
            return new SagaEvent.Tick();
        }

        if (!Types.TryGetValue(kind, out var type))
        {
            throw new InvalidOperationException($"Unknown saga event kind '{kind}'");
        }

        var value = JsonSerializer.Deserialize(json, type, Json) ?? throw new InvalidOperationException($"empty {kind} event");
        return value is OperatorCommand command ? new SagaEvent.Operator(command) : new SagaEvent.Reply(value);
    }
}
