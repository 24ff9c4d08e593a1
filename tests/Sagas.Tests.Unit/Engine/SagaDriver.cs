using System.Text.Json;
using Sagas.Contracts;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Tests.Unit.Engine;

/// <summary>
/// Drives one saga through the Engine by hand: keeps the current instance, the clock, and every
/// decision, message and history entry so tests can assert on what really happened.
/// </summary>
internal sealed class SagaDriver
{
    public static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<Decision> _decisions = [];

    private SagaDriver(SagaDefinition definition, Decision start, DateTimeOffset now)
    {
        Definition = definition;
        Instance = start.Instance;
        Now = now;
        _decisions.Add(start);
    }

    public SagaDefinition Definition { get; }

    public SagaInstance Instance { get; private set; }

    public DateTimeOffset Now { get; private set; }

    public Guid SagaId => Instance.Id;

    public IReadOnlyList<Decision> Decisions => _decisions;

    public Decision Last => _decisions[^1];

    public IEnumerable<OutgoingMessage> AllMessages => _decisions.SelectMany(d => d.Messages);

    public IEnumerable<HistoryEntry> AllHistory => _decisions.SelectMany(d => d.History);

    public static SagaDriver Start(SagaDefinition definition, string data = """{"orderId":"o-1"}""", TimeSpan? deadline = null, DateTimeOffset? at = null)
    {
        var now = at ?? T0;
        var request = new StartRequest(Guid.NewGuid(), data, "bk-1", "tenant-a", deadline);
        return new SagaDriver(definition, SagaEngine.Start(definition, request, now), now);
    }

    public StepState Step(string name) => Instance.FindStep(name) ?? throw new InvalidOperationException($"no step {name}");

    public Decision Apply(SagaEvent evt)
    {
        var decision = SagaEngine.Handle(Definition, Instance, evt, Now);
        Instance = decision.Instance;
        _decisions.Add(decision);
        return decision;
    }

    public Decision Succeed(string step, int attempt = 1, JsonElement? output = null) =>
        Apply(SagaEvent.From(new StepSucceeded(SagaId, step, attempt, output)));

    public Decision Fail(string step, int attempt = 1, bool retryable = false, string reason = "declined", TimeSpan? retryAfter = null) =>
        Apply(SagaEvent.From(new StepFailed(SagaId, step, attempt, retryable, reason, retryAfter)));

    public Decision Compensated(string step, int attempt = 1) =>
        Apply(SagaEvent.From(new StepCompensated(SagaId, step, attempt)));

    public Decision CompensationFailed(string step, int attempt = 1, bool retryable = false, string reason = "cannot undo") =>
        Apply(SagaEvent.From(new CompensationFailed(SagaId, step, attempt, retryable, reason)));

    public Decision Tick() => Apply(new SagaEvent.Tick());

    public Decision TickAt(DateTimeOffset at)
    {
        Now = at;
        return Tick();
    }

    public void Advance(TimeSpan by) => Now += by;
}

internal static class Messages
{
    public static ExecuteStep Execute(this OutgoingMessage m) => Assert.IsType<ExecuteStep>(m.Message);

    public static CompensateStep Compensate(this OutgoingMessage m) => Assert.IsType<CompensateStep>(m.Message);

    /// <summary>A compact, comparable description of a decision's messages, e.g. <c>exec:b#2</c>, <c>comp:a#1</c>, <c>completed</c>.</summary>
    public static string[] Describe(this IEnumerable<OutgoingMessage> messages) => messages.Select(Describe).ToArray();

    public static string Describe(this OutgoingMessage m) => m.Message switch
    {
        ExecuteStep e => $"exec:{e.Step}#{e.Attempt}",
        CompensateStep c => $"comp:{c.Step}#{c.Attempt}",
        SagaCompleted => "completed",
        SagaCompensated => "compensated",
        SagaFailed => "failed",
        _ => m.Message.GetType().Name,
    };
}

internal static class TestDefinitions
{
    /// <summary>Three compensatable steps a, b, c on participants pa, pb, pc; 10 s timeouts; 3 attempts with 200 ms x2 back-off capped at 5 s.</summary>
    public static SagaDefinition ThreeSteps(int maxAttempts = 3, int compensationAttempts = 3) =>
        SagaDefinitionBuilder.Create("three", 1)
            .Step("a", s => Compensatable(s, "pa", "do-a", "undo-a", maxAttempts, compensationAttempts))
            .Step("b", s => Compensatable(s, "pb", "do-b", "undo-b", maxAttempts, compensationAttempts))
            .Step("c", s => Compensatable(s, "pc", "do-c", "undo-c", maxAttempts, compensationAttempts))
            .Build();

    /// <summary>a (compensatable), p (pivot), r (retriable, MaxAttempts 2).</summary>
    public static SagaDefinition WithPivot() =>
        SagaDefinitionBuilder.Create("pivoted", 1)
            .Step("a", s => Compensatable(s, "pa", "do-a", "undo-a", 3, 3))
            .Step("p", s => s.On("pp").Action("do-p").Kind(StepKind.Pivot).Timeout(TimeSpan.FromSeconds(10)).Retry(1, TimeSpan.FromMilliseconds(100)))
            .Step("r", s => s.On("pr").Action("do-r").Kind(StepKind.Retriable).Timeout(TimeSpan.FromSeconds(10))
                .Retry(2, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)))
            .Build();

    private static StepBuilder Compensatable(StepBuilder s, string participant, string action, string undo, int maxAttempts, int compensationAttempts) =>
        s.On(participant).Action(action).Compensation(undo)
            .Timeout(TimeSpan.FromSeconds(10))
            .CompensationTimeout(TimeSpan.FromSeconds(20))
            .Retry(maxAttempts, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5))
            .CompensationRetry(compensationAttempts, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4));
}
