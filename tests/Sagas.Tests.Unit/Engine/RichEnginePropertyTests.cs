using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sagas.Contracts;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Tests.Unit.Engine;

/// <summary>
/// Random definitions with parallel groups, wait steps and an optional pivot followed by retriable steps, in a
/// messy world of replies, signals (right and wrong names), heartbeats and operator commands at random moments.
/// The world then drives every saga to an end (resuming paused ones, answering or timing out commands).
/// </summary>
public class RichEnginePropertyTests
{
    private const int MaxDecisions = 5_000;

    [Property(MaxTest = 600, Arbitrary = [typeof(RichScenarioArbitrary)])]
    public void Engine_RandomGroupsWaitsSignalsAndOperators_ReachesTerminalStateHonouringGuarantees(RichScenario scenario)
    {
        var run = new RichObserved(scenario);
        run.Play();
        run.Drain();
        run.CheckOutcome();
    }

    [Property(MaxTest = 200, Arbitrary = [typeof(RichScenarioArbitrary)])]
    public void Engine_RandomGroupsAndWaitsQuietWorld_ReachesTerminalStateHonouringGuarantees(RichScenario scenario)
    {
        var run = new RichObserved(scenario with { Script = [] });
        run.Drain();
        run.CheckOutcome();
    }

    /// <summary>The generated worlds only prove something if they reach groups, waits, signals, heartbeats, every operator command and every end.</summary>
    [Fact]
    public void Engine_SampledRichWorlds_CoverGroupsWaitsSignalsOperatorsAndEveryTerminalState()
    {
        var states = new HashSet<SagaState>();
        var types = new HashSet<string>(StringComparer.Ordinal);
        var fanOuts = 0;
        var awaitedBranches = 0;
        var failedNeedingPerson = 0;
        var samples = RichScenarioArbitrary.ScenarioGen.Sample(500, 50);
        Assert.True(samples.Length >= 400, $"only {samples.Length} samples");
        foreach (var scenario in samples)
        {
            var run = new RichObserved(scenario);
            run.Play();
            run.Drain();
            run.CheckOutcome();
            states.Add(run.Saga.Instance.State);
            types.UnionWith(run.Saga.AllHistory.Select(h => h.Type));
            fanOuts += run.Saga.Decisions.Any(d => d.Messages.Count(m => m.Message is ExecuteStep) >= 2) ? 1 : 0;
            awaitedBranches += run.Saga.AllHistory.Any(h => h.Detail == "after the rollback began; it will be compensated") ? 1 : 0;
            failedNeedingPerson += run.Saga.Instance.State == SagaState.Failed ? 1 : 0;
        }

        Assert.Superset(
            new HashSet<SagaState> { SagaState.Completed, SagaState.Compensated, SagaState.Cancelled, SagaState.Failed },
            states);
        Assert.Superset(
            new HashSet<string>(StringComparer.Ordinal)
            {
                HistoryTypes.WaitStarted, HistoryTypes.WaitTimedOut, HistoryTypes.SignalReceived, HistoryTypes.SignalConsumed,
                HistoryTypes.StepHeartbeat, HistoryTypes.CancelRequested, HistoryTypes.SagaPaused, HistoryTypes.SagaResumed,
                HistoryTypes.ReplyDeferred, HistoryTypes.RetryRequested, HistoryTypes.CompensationSkipped, HistoryTypes.DeadlineChanged,
                HistoryTypes.StepRetryScheduled, HistoryTypes.StepTimedOut, HistoryTypes.CompensationFailed, HistoryTypes.ReplyIgnored,
            },
            types);
        Assert.True(fanOuts > 20, $"only {fanOuts} sagas fanned out a group");
        Assert.True(awaitedBranches > 0, "no rollback ever waited for a running branch");
        Assert.True(failedNeedingPerson < samples.Length / 2, $"{failedNeedingPerson} of {samples.Length} sagas ended Failed");
    }

    private sealed class RichObserved
    {
        private readonly RichScenario _scenario;
        private readonly SagaDriver _saga;
        private readonly List<string> _trace = [];
        private readonly HashSet<string> _executed = new(StringComparer.Ordinal);
        private readonly List<string> _firstCompensations = [];
        private readonly Dictionary<string, int> _unitOf;
        private int _terminalMessages;
        private int _terminalEntries;

        public RichObserved(RichScenario scenario)
        {
            _scenario = scenario;
            var deadline = scenario.DeadlineSeconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
            var definition = scenario.ToDefinition();
            _unitOf = scenario.UnitIndexes();
            _saga = SagaDriver.Start(definition, data: """{"orderId":"o-1","amount":10}""", deadline: deadline);
            Observe(null, _saga.Last, "start", operatorCommand: null);
        }

        public SagaDriver Saga => _saga;

        private SagaInstance Instance => _saga.Instance;

        private SagaDefinition Definition => _saga.Definition;

        public void Play()
        {
            foreach (var e in _scenario.Script)
            {
                Apply(e);
            }
        }

        public void Drain()
        {
            var random = new Random(_scenario.DrainSeed);
            for (var i = 0; i < MaxDecisions && !Instance.State.IsTerminal(); i++)
            {
                var roll = random.Next(100);
                var active = Instance.Steps.Where(s => s.Status is StepStatus.Running or StepStatus.Compensating).ToList();
                if (Instance.State == SagaState.Paused)
                {
                    if (roll < 75 || active.Count == 0)
                    {
                        Operate(new OperatorCommand.Resume("ops", "carry on"));
                    }
                    else
                    {
                        var s = active[random.Next(active.Count)];
                        Reply(s.Status == StepStatus.Running ? RichEventKind.Succeeded : RichEventKind.Compensated, s.Name,
                            s.Status == StepStatus.Running ? s.Attempts : s.CompensationAttempts, 0, duplicate: false);
                    }

                    continue;
                }

                var waiting = Instance.Steps.FindIndex(s => s.Status == StepStatus.Waiting);
                if (waiting >= 0 && roll < 35)
                {
                    Signal(Definition.Steps[waiting].WaitFor!, $$"""{"drain":{{i}}}""");
                    continue;
                }

                if (active.Count > 0 && roll < 80)
                {
                    var step = active[random.Next(active.Count)];
                    var sub = random.Next(100);
                    if (step.Status == StepStatus.Running)
                    {
                        var attempt = random.Next(5) == 0 ? Math.Max(1, step.Attempts - 1) : step.Attempts;
                        var kind = sub < 55 ? RichEventKind.Succeeded : sub < 67 ? RichEventKind.FailedBusiness
                            : sub < 85 ? RichEventKind.FailedRetryable : RichEventKind.Heartbeat;
                        Reply(kind, step.Name, attempt, random.Next(3) == 0 ? random.Next(1, 40_000) : 0, duplicate: random.Next(6) == 0);
                    }
                    else
                    {
                        var kind = sub < 70 ? RichEventKind.Compensated : sub < 92 ? RichEventKind.CompensationFailedRetryable : RichEventKind.CompensationFailedFinal;
                        Reply(kind, step.Name, step.CompensationAttempts, 0, duplicate: random.Next(6) == 0);
                    }

                    continue;
                }

                var wake = Instance.NextWakeAt;
                Assert.True(wake is not null, Fail("an unfinished, unpaused saga has no timer: nothing will ever wake it"));
                var at = wake!.Value > _saga.Now ? wake.Value : _saga.Now;
                Tick(at);
            }

            Assert.True(Instance.State.IsTerminal(), Fail($"not terminal after {MaxDecisions} decisions"));
        }

        public void CheckOutcome()
        {
            var compensateSteps = _saga.AllMessages.Select(m => m.Message).OfType<CompensateStep>().ToList();
            var compensatedNames = compensateSteps.Select(c => c.Step).ToHashSet(StringComparer.Ordinal);
            var statuses = Instance.Steps.ToDictionary(s => s.Name, s => s.Status, StringComparer.Ordinal);
            var undone = _saga.AllHistory
                .Where(h => h.Type is HistoryTypes.StepCompensated or HistoryTypes.CompensationSkipped)
                .GroupBy(h => h.Step!, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

            Assert.True(Instance.State.IsTerminal(), Fail("not terminal"));
            Assert.Null(Instance.NextWakeAt);
            Assert.All(Instance.Steps, s => Assert.True(s.DueAt is null, Fail($"{s.Name} has a timer in a terminal saga")));
            Assert.True(_terminalMessages == _terminalEntries && _terminalEntries >= 1,
                Fail($"{_terminalMessages} terminal events published for {_terminalEntries} entries into a terminal state"));
            Assert.True(undone.Values.All(n => n == 1), Fail("a step was compensated (or skipped) more than once"));

            foreach (var name in compensatedNames)
            {
                Assert.True(_executed.Contains(name), Fail($"{name} compensated without ever being executed"));
            }

            for (var i = 0; i < Definition.Steps.Count; i++)
            {
                var def = Definition.Steps[i];
                var status = Instance.Steps[i].Status;
                if (def.IsWait)
                {
                    Assert.True(status is StepStatus.Pending or StepStatus.Waiting or StepStatus.Succeeded or StepStatus.Failed or StepStatus.Compensated,
                        Fail($"wait step {def.Name} ended {status}"));
                }
                else if (!_executed.Contains(def.Name))
                {
                    Assert.True(status == StepStatus.Pending, Fail($"{def.Name} never executed but is {status}"));
                }

                if (status == StepStatus.Failed)
                {
                    Assert.False(compensatedNames.Contains(def.Name), Fail($"{def.Name} failed (business) but was sent a compensation"));
                }
            }

            // Across units (single steps, groups), compensations go in reverse order, one unit at a time.
            var order = _firstCompensations.Select(n => _unitOf[n]).ToList();
            for (var i = 1; i < order.Count; i++)
            {
                Assert.True(order[i] <= order[i - 1], Fail($"compensations out of order: {string.Join(",", _firstCompensations)}"));
            }

            switch (Instance.State)
            {
                case SagaState.Completed:
                    Assert.True(statuses.Values.All(s => s == StepStatus.Succeeded), Fail("completed with a step not Succeeded"));
                    Assert.True(compensateSteps.Count == 0, Fail("completed but a CompensateStep was sent"));
                    break;
                case SagaState.Compensated or SagaState.Cancelled:
                    foreach (var name in _executed)
                    {
                        var status = statuses[name];
                        if (status == StepStatus.Failed)
                        {
                            continue;
                        }

                        Assert.True(status is StepStatus.Compensated or StepStatus.CompensationSkipped,
                            Fail($"{name} was executed, did not fail, but ended {status} in a {Instance.State} saga"));
                        Assert.True(undone.GetValueOrDefault(name) == 1, Fail($"{name} undone {undone.GetValueOrDefault(name)} times"));
                    }

                    Assert.All(Instance.Steps, s => Assert.True(
                        s.Status is StepStatus.Pending or StepStatus.Failed or StepStatus.Compensated or StepStatus.CompensationSkipped,
                        Fail($"{s.Name} ended {s.Status} in a {Instance.State} saga")));
                    Assert.False(string.IsNullOrEmpty(Instance.Reason));
                    Assert.Equal(Instance.State == SagaState.Cancelled, Instance.CompensationTrigger == CompensationTriggers.Cancel);
                    break;
                case SagaState.Failed:
                    var pivotPassed = Definition.Steps.Select((d, i) => (d, i))
                        .Any(x => x.d.Kind == StepKind.Pivot && Instance.Steps[x.i].Status == StepStatus.Succeeded);
                    Assert.True(pivotPassed || statuses.Values.Any(s => s == StepStatus.CompensationFailed),
                        Fail("failed without a failed compensation and before the pivot"));
                    Assert.False(string.IsNullOrEmpty(Instance.Reason));
                    break;
                default:
                    Assert.Fail(Fail($"unexpected terminal state {Instance.State}"));
                    break;
            }
        }

        private void Apply(RichEvent e)
        {
            if (e.Kind == RichEventKind.Tick)
            {
                Tick(_saga.Now + TimeSpan.FromMilliseconds(e.AdvanceMs));
                return;
            }

            _saga.Advance(TimeSpan.FromMilliseconds(e.AdvanceMs));
            var steps = Instance.Steps;
            var active = steps.Where(s => s.Status is StepStatus.Running or StepStatus.RetryScheduled
                or StepStatus.Compensating or StepStatus.CompensationRetryScheduled).ToList();
            var target = e.Pick % 4 != 0 && active.Count > 0 ? active[e.Pick % active.Count] : steps[e.Pick % steps.Count];
            var name = e.Pick % 13 == 12 ? "no-such-step" : target.Name;
            switch (e.Kind)
            {
                case RichEventKind.Succeeded or RichEventKind.FailedRetryable or RichEventKind.FailedBusiness or RichEventKind.Heartbeat:
                    Reply(e.Kind, name, Math.Max(1, target.Attempts + e.AttemptOffset), e.Extra, e.Duplicate);
                    break;
                case RichEventKind.Compensated or RichEventKind.CompensationFailedRetryable or RichEventKind.CompensationFailedFinal:
                    Reply(e.Kind, name, Math.Max(1, target.CompensationAttempts + e.AttemptOffset), e.Extra, e.Duplicate);
                    break;
                case RichEventKind.SignalRight:
                    var waits = Definition.Steps.Where(s => s.IsWait).Select(s => s.WaitFor!).ToList();
                    Signal(waits.Count > 0 ? waits[e.Pick % waits.Count] : "packed", e.Extra % 2 == 0 ? null : $$"""{"sig":{{e.Pick}}}""");
                    break;
                case RichEventKind.SignalWrong:
                    Signal("nobody-waits", """{"orderId":"overwritten?"}""");
                    break;
                case RichEventKind.Pause:
                    Operate(new OperatorCommand.Pause("ops", "look"));
                    break;
                case RichEventKind.Resume:
                    Operate(new OperatorCommand.Resume("ops", "go"));
                    break;
                case RichEventKind.Cancel:
                    Operate(new OperatorCommand.Cancel("ops", "stop"));
                    break;
                case RichEventKind.Retry:
                    Operate(new OperatorCommand.Retry("ops", "again", e.Pick % 3 == 0 ? null : name));
                    break;
                case RichEventKind.Skip:
                    var doubt = steps.Find(s => s.Status is StepStatus.Compensating or StepStatus.CompensationRetryScheduled or StepStatus.CompensationFailed);
                    Operate(new OperatorCommand.SkipCompensation("ops", "by hand", e.Pick % 5 != 0 && doubt is not null ? doubt.Name : name));
                    break;
                case RichEventKind.ChangeDeadline:
                    DateTimeOffset? deadline = (e.Extra % 3) switch
                    {
                        0 => null,
                        1 => _saga.Now - TimeSpan.FromSeconds(1),
                        _ => _saga.Now + TimeSpan.FromMilliseconds(e.Extra),
                    };
                    Operate(new OperatorCommand.ChangeDeadline("ops", "moved", deadline));
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(e));
            }
        }

        private void Tick(DateTimeOffset at)
        {
            var before = Instance;
            var decision = _saga.TickAt(at);
            Observe(before, decision, $"tick @{Offset(at)}", operatorCommand: null);
            Assert.True(decision.Instance.NextWakeAt is null || decision.Instance.NextWakeAt > _saga.Now || decision.Instance.State == SagaState.Paused,
                Fail("after a tick the next wake-up is not in the future"));
        }

        private void Signal(string name, string? payload) => Operate(new OperatorCommand.Signal("ops", "", name, payload));

        private void Operate(OperatorCommand command)
        {
            var before = Instance;
            var decision = _saga.Apply(new SagaEvent.Operator(command));
            Observe(before, decision, command.ToString(), command);
        }

        private void Reply(RichEventKind kind, string step, int attempt, int extraMs, bool duplicate)
        {
            var id = _saga.SagaId;
            object message = kind switch
            {
                RichEventKind.Succeeded => new StepSucceeded(id, step, attempt),
                RichEventKind.FailedRetryable => new StepFailed(id, step, attempt, true, "transient", extraMs > 0 ? TimeSpan.FromMilliseconds(extraMs) : null),
                RichEventKind.FailedBusiness => new StepFailed(id, step, attempt, false, "business"),
                RichEventKind.Heartbeat => new StepHeartbeat(id, step, attempt, extraMs > 0 ? TimeSpan.FromMilliseconds(extraMs) : null),
                RichEventKind.Compensated => new StepCompensated(id, step, attempt),
                RichEventKind.CompensationFailedRetryable => new CompensationFailed(id, step, attempt, true, "transient"),
                RichEventKind.CompensationFailedFinal => new CompensationFailed(id, step, attempt, false, "final"),
                _ => throw new ArgumentOutOfRangeException(nameof(kind)),
            };

            for (var i = 0; i < (duplicate ? 2 : 1); i++)
            {
                var before = Instance;
                var decision = _saga.Apply(new SagaEvent.Reply(message));
                Observe(before, decision, $"{kind} {step}#{attempt}{(i == 1 ? " (dup)" : "")}", operatorCommand: null);
                if (i == 1 && kind != RichEventKind.Heartbeat && before.State != SagaState.Paused)
                {
                    Assert.True(decision.Messages.Count == 0, Fail("a duplicate reply sent messages"));
                    Assert.True(decision.History.All(h => h.Type == HistoryTypes.ReplyIgnored), Fail("a duplicate reply did more than ReplyIgnored"));
                    Assert.Equal(before.Steps.Select(s => s.Status), decision.Instance.Steps.Select(s => s.Status));
                }
            }
        }

        private void Observe(SagaInstance? before, Decision decision, string what, OperatorCommand? operatorCommand)
        {
            var after = decision.Instance;
            _trace.Add($"{what} -> {after.State} [{string.Join(",", after.Steps.Select(s => $"{s.Name}:{s.Status}#{s.Attempts}/{s.CompensationAttempts}"))}] msgs [{string.Join(",", decision.Messages.Describe())}]{(decision.Rejection is { } r ? " REJECTED: " + r : "")}");

            if (decision.Rejection is not null)
            {
                Assert.NotNull(before);
                Assert.True(operatorCommand is not null, Fail("a rejection for something other than an operator command"));
                Assert.True(decision.Messages.Count == 0 && decision.History.Count == 0, Fail("a rejection sent messages or wrote history"));
                Assert.True(after.ConcurrencyVersion == before!.ConcurrencyVersion, Fail("a rejection changed the ConcurrencyVersion"));
                Assert.True(after.HistorySequence == before.HistorySequence && after.State == before.State && after.Data == before.Data &&
                    after.UpdatedAt == before.UpdatedAt && after.NextWakeAt == before.NextWakeAt && after.Signals.Count == before.Signals.Count &&
                    after.Steps.Select(s => (s.Status, s.Attempts, s.CompensationAttempts, s.DueAt))
                        .SequenceEqual(before.Steps.Select(s => (s.Status, s.Attempts, s.CompensationAttempts, s.DueAt))),
                    Fail("a rejection changed the instance"));
                Assert.False(decision.Changed);
                return;
            }

            var previousSequence = before?.HistorySequence ?? 0;
            Assert.True(Enumerable.Range(previousSequence + 1, decision.History.Count).SequenceEqual(decision.History.Select(h => h.Sequence)),
                Fail("history sequence has a gap or repeats"));
            Assert.True(after.HistorySequence == previousSequence + decision.History.Count, Fail("HistorySequence does not match the entries written"));
            Assert.True(after.ConcurrencyVersion == (before?.ConcurrencyVersion ?? 0) + (decision.Changed ? 1 : 0),
                Fail("ConcurrencyVersion did not move by exactly one on a change"));
            if (operatorCommand is not null)
            {
                Assert.True(decision.History.Count > 0, Fail("an accepted operator command left no history"));
                Assert.Equal("ops", decision.History[0].Actor);
            }

            var reopened = operatorCommand is OperatorCommand.Retry or OperatorCommand.SkipCompensation;
            if (before is not null && before.State.IsTerminal() && !reopened)
            {
                Assert.True(decision.Messages.Count == 0, Fail("a terminal saga sent messages"));
                Assert.True(after.State == before.State, Fail("a terminal saga changed state"));
            }

            if (!after.State.IsTerminal() && after.State != SagaState.Paused)
            {
                Assert.True(after.NextWakeAt is not null, Fail("an unfinished, unpaused saga has no wake-up time"));
            }

            var enteredTerminal = after.State.IsTerminal() && (before is null || !before.State.IsTerminal() || reopened);
            _terminalEntries += enteredTerminal ? 1 : 0;
            var published = decision.Messages.Count(m => m.Message is SagaCompleted or SagaCompensated or SagaFailed or SagaCancelled);
            _terminalMessages += published;
            Assert.True(published == (enteredTerminal ? 1 : 0), Fail($"{published} terminal events for a decision that {(enteredTerminal ? "ended" : "did not end")} the saga"));

            foreach (var m in decision.Messages)
            {
                switch (m.Message)
                {
                    case ExecuteStep e:
                        Assert.True(after.State == SagaState.Running, Fail("ExecuteStep sent while not running"));
                        Assert.False(Definition.FindStep(e.Step)!.IsWait, Fail("a wait step was sent a command"));
                        Assert.Equal(Definition.FindStep(e.Step)!.Participant, m.Queue);
                        _executed.Add(e.Step);
                        break;
                    case CompensateStep c:
                        Assert.True(after.State == SagaState.Compensating, Fail("CompensateStep sent while not compensating"));
                        // Usually Compensating; replies deferred by a pause and applied in the same decision may already have answered it.
                        Assert.True(after.FindStep(c.Step)!.Status is StepStatus.Compensating or StepStatus.CompensationRetryScheduled
                            or StepStatus.Compensated or StepStatus.CompensationFailed or StepStatus.CompensationSkipped, Fail($"{c.Step} sent a compensation but is {after.FindStep(c.Step)!.Status}"));
                        Assert.True(after.Steps.TrueForAll(s => s.Status != StepStatus.Running), Fail($"{c.Step} compensation sent while a step is still Running"));
                        if (!_firstCompensations.Contains(c.Step))
                        {
                            _firstCompensations.Add(c.Step);
                        }

                        break;
                }
            }
        }

        private string Fail(string message) =>
            $"{message}\nscenario: {_scenario}\ntrace:\n  {string.Join("\n  ", _trace.TakeLast(60))}";

        private static string Offset(DateTimeOffset at) => (at - SagaDriver.T0).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms";
    }
}

public enum RichEventKind
{
    Succeeded,
    FailedRetryable,
    FailedBusiness,
    Heartbeat,
    Compensated,
    CompensationFailedRetryable,
    CompensationFailedFinal,
    Tick,
    SignalRight,
    SignalWrong,
    Pause,
    Resume,
    Cancel,
    Retry,
    Skip,
    ChangeDeadline,
}

/// <summary>One step of a generated definition; <paramref name="Unit"/> numbers single steps and whole groups in order.</summary>
public sealed record RichStep(string Name, int Unit, string? Group, string? WaitFor, StepKind Kind, StepSpec Spec, bool SendSomeFields)
{
    public override string ToString() =>
        $"{Name}{(Group is null ? "" : "@" + Group)}{(WaitFor is null ? "" : "?" + WaitFor)}:{Kind}{(SendSomeFields ? "+fields" : "")}{Spec}";
}

public sealed record RichEvent(RichEventKind Kind, int Pick, int AttemptOffset, int AdvanceMs, int Extra, bool Duplicate)
{
    public override string ToString() =>
        $"{Kind}(pick={Pick} off={AttemptOffset} +{AdvanceMs}ms x={Extra}{(Duplicate ? " dup" : "")})";
}

public sealed record RichScenario(IReadOnlyList<RichStep> Steps, int? DeadlineSeconds, IReadOnlyList<RichEvent> Script, int DrainSeed)
{
    public SagaDefinition ToDefinition()
    {
        var builder = SagaDefinitionBuilder.Create("rich", 1);
        foreach (var step in Steps)
        {
            var spec = step.Spec;
            builder.Step(step.Name, s =>
            {
                var b = s.Timeout(TimeSpan.FromSeconds(spec.TimeoutSeconds));
                if (step.WaitFor is { } signal)
                {
                    return b.WaitFor(signal);
                }

                b = b.On($"p-{step.Name}").Action($"do-{step.Name}").Kind(step.Kind)
                    .Retry(spec.MaxAttempts, TimeSpan.FromMilliseconds(spec.InitialDelayMs), TimeSpan.FromMilliseconds(spec.MaxDelayMs), spec.Multiplier);
                if (step.Kind == StepKind.Compensatable)
                {
                    b = b.Compensation($"undo-{step.Name}")
                        .CompensationRetry(spec.CompensationAttempts, TimeSpan.FromMilliseconds(spec.InitialDelayMs), TimeSpan.FromMilliseconds(spec.MaxDelayMs), spec.Multiplier);
                    b = spec.CompensationTimeoutSeconds is { } ct ? b.CompensationTimeout(TimeSpan.FromSeconds(ct)) : b;
                }

                b = step.Group is { } g ? b.InGroup(g) : b;
                return step.SendSomeFields ? b.SendFields("orderId", "sig") : b;
            });
        }

        return builder.Build();
    }

    public Dictionary<string, int> UnitIndexes() => Steps.ToDictionary(s => s.Name, s => s.Unit, StringComparer.Ordinal);

    public override string ToString() =>
        $"steps=[{string.Join(" ", Steps)}] deadline={DeadlineSeconds?.ToString(CultureInfo.InvariantCulture) ?? "none"} seed={DrainSeed} script=[{string.Join(" ", Script)}]";
}

public static class RichScenarioArbitrary
{
    public static Arbitrary<RichScenario> Scenarios() => Arb.From(ScenarioGen);

    private enum UnitKind
    {
        Single,
        Group,
        Wait,
    }

    private sealed record Unit(UnitKind Kind, int Branches, StepSpec[] Specs, bool Fields, string Signal);

    private static readonly Gen<StepSpec> StepGen =
        from timeout in Gen.Choose(1, 30)
        from max in Gen.Choose(1, 4)
        from initial in Gen.Choose(0, 2_000)
        from extra in Gen.Choose(0, 10_000)
        from multiplier in Gen.Elements(1.0, 2.0, 3.0)
        from compensationAttempts in Gen.Choose(1, 4)
        from compensationTimeout in Gen.Frequency((1, Gen.Constant<int?>(null)), (2, Gen.Choose(1, 30).Select(x => (int?)x)))
        select new StepSpec(timeout, max, initial, initial + extra, multiplier, compensationAttempts, compensationTimeout);

    private static Gen<Unit> UnitGen(bool allowWait) =>
        from kind in allowWait
            ? Gen.Frequency((5, Gen.Constant(UnitKind.Single)), (4, Gen.Constant(UnitKind.Group)), (2, Gen.Constant(UnitKind.Wait)))
            : Gen.Frequency((1, Gen.Constant(UnitKind.Single)), (1, Gen.Constant(UnitKind.Group)))
        from branches in Gen.Choose(2, 3)
        from specs in Gen.ArrayOf(StepGen, 3)
        from fields in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        from signal in Gen.Elements("packed", "paid")
        select new Unit(kind, branches, specs, fields, signal);

    private static readonly Gen<RichEvent> EventGen =
        from kind in Gen.Frequency(
            (8, Gen.Constant(RichEventKind.Succeeded)),
            (2, Gen.Constant(RichEventKind.FailedRetryable)),
            (1, Gen.Constant(RichEventKind.FailedBusiness)),
            (2, Gen.Constant(RichEventKind.Heartbeat)),
            (3, Gen.Constant(RichEventKind.Compensated)),
            (1, Gen.Constant(RichEventKind.CompensationFailedRetryable)),
            (1, Gen.Constant(RichEventKind.CompensationFailedFinal)),
            (5, Gen.Constant(RichEventKind.Tick)),
            (3, Gen.Constant(RichEventKind.SignalRight)),
            (1, Gen.Constant(RichEventKind.SignalWrong)),
            (1, Gen.Constant(RichEventKind.Pause)),
            (1, Gen.Constant(RichEventKind.Resume)),
            (1, Gen.Constant(RichEventKind.Cancel)),
            (1, Gen.Constant(RichEventKind.Retry)),
            (1, Gen.Constant(RichEventKind.Skip)),
            (1, Gen.Constant(RichEventKind.ChangeDeadline)))
        from pick in Gen.Choose(0, 1_000)
        from offset in Gen.Frequency((6, Gen.Constant(0)), (2, Gen.Constant(-1)), (1, Gen.Constant(1)))
        from advance in Gen.Frequency((3, Gen.Constant(0)), (4, Gen.Choose(1, 3_000)), (3, Gen.Choose(3_000, 40_000)))
        from extra in Gen.Frequency((2, Gen.Constant(0)), (1, Gen.Choose(1, 60_000)))
        from duplicate in Gen.Frequency((5, Gen.Constant(false)), (1, Gen.Constant(true)))
        select new RichEvent(kind, pick, offset, advance, extra, duplicate);

    internal static readonly Gen<RichScenario> ScenarioGen =
        from preCount in Gen.Choose(1, 4)
        from pre in Gen.ListOf(UnitGen(allowWait: true), preCount)
        from pivot in Gen.Frequency((2, Gen.Constant<StepSpec?>(null)), (1, StepGen.Select(s => (StepSpec?)s)))
        from postCount in Gen.Choose(0, 2)
        from post in Gen.ListOf(UnitGen(allowWait: false), postCount)
        from deadline in Gen.Frequency((3, Gen.Constant<int?>(null)), (1, Gen.Choose(5, 300).Select(x => (int?)x)))
        from length in Gen.Choose(0, 50)
        from script in Gen.ListOf(EventGen, length)
        from seed in Gen.Choose(0, int.MaxValue - 1)
        select new RichScenario(Flatten(pre, pivot, pivot is null ? [] : post), deadline, script.ToArray(), seed);

    private static RichStep[] Flatten(IEnumerable<Unit> pre, StepSpec? pivot, IEnumerable<Unit> post)
    {
        var steps = new List<RichStep>();
        var unit = 0;
        void Add(Unit u, StepKind kind)
        {
            switch (u.Kind)
            {
                case UnitKind.Wait:
                    steps.Add(new RichStep($"w{unit}", unit, null, u.Signal, StepKind.Compensatable, u.Specs[0] with { TimeoutSeconds = u.Specs[0].TimeoutSeconds * 2 }, false));
                    break;
                case UnitKind.Single:
                    steps.Add(new RichStep($"s{unit}", unit, null, null, kind, u.Specs[0], u.Fields));
                    break;
                default:
                    for (var b = 0; b < u.Branches; b++)
                    {
                        steps.Add(new RichStep($"g{unit}b{b}", unit, $"g{unit}", null, kind, u.Specs[b], u.Fields && b == 0));
                    }

                    break;
            }

            unit++;
        }

        foreach (var u in pre)
        {
            Add(u, StepKind.Compensatable);
        }

        if (pivot is not null)
        {
            steps.Add(new RichStep($"pivot{unit}", unit, null, null, StepKind.Pivot, pivot, false));
            unit++;
            foreach (var u in post)
            {
                Add(u, StepKind.Retriable);
            }
        }

        return steps.ToArray();
    }
}
