using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sagas.Contracts;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Tests.Unit.Engine;

/// <summary>
/// Random definitions and random, messy participant worlds (duplicates, stale and future attempts, replies for
/// the wrong step, lost replies, advancing time) driven until the saga ends; then the guarantees are checked.
/// </summary>
public class SagaEnginePropertyTests
{
    private const int MaxDecisions = 5_000;

    [Property(MaxTest = 600, Arbitrary = [typeof(ScenarioArbitrary)])]
    public void Engine_RandomWorld_ReachesTerminalStateHonouringGuarantees(Scenario scenario)
    {
        var run = new Observed(scenario);
        run.Play();
        run.Drain();
        run.CheckOutcome();
    }

    /// <summary>Same worlds without the scripted chaos: the participant answers or stays silent, timers fire.</summary>
    [Property(MaxTest = 300, Arbitrary = [typeof(ScenarioArbitrary)])]
    public void Engine_RandomQuietWorld_ReachesTerminalStateHonouringGuarantees(Scenario scenario)
    {
        var run = new Observed(scenario with { Script = [] });
        run.Drain();
        run.CheckOutcome();
    }

    /// <summary>The generated worlds are only worth something if they reach every outcome and every kind of event.</summary>
    [Fact]
    public void Engine_SampledWorlds_CoverEveryOutcomeAndHistoryType()
    {
        var states = new HashSet<SagaState>();
        var types = new HashSet<string>(StringComparer.Ordinal);
        var deadlines = 0;
        foreach (var scenario in ScenarioArbitrary.ScenarioGen.Sample(400, 50))
        {
            var run = new Observed(scenario);
            run.Play();
            run.Drain();
            run.CheckOutcome();
            states.Add(run.Saga.Instance.State);
            types.UnionWith(run.Saga.AllHistory.Select(h => h.Type));
            deadlines += run.Saga.Instance.Reason?.Contains("deadline", StringComparison.Ordinal) == true ? 1 : 0;
        }

        Assert.Superset(new HashSet<SagaState> { SagaState.Completed, SagaState.Compensated, SagaState.Failed }, states);
        Assert.Superset(
            new HashSet<string>(StringComparer.Ordinal)
            {
                HistoryTypes.StepRetryScheduled, HistoryTypes.StepTimedOut, HistoryTypes.CompensationRetryScheduled,
                HistoryTypes.CompensationTimedOut, HistoryTypes.ReplyIgnored, HistoryTypes.CompensationFailed,
            },
            types);
        Assert.True(deadlines > 0, "no sampled saga hit its deadline");
    }

    /// <summary>Runs the scenario against the Engine, checking the per-decision invariants as it goes.</summary>
    private sealed class Observed
    {
        private readonly Scenario _scenario;
        private readonly SagaDriver _saga;
        private readonly List<string> _trace = [];
        private readonly HashSet<string> _executed = new(StringComparer.Ordinal);
        private readonly HashSet<string> _mayHaveRun = new(StringComparer.Ordinal);
        private readonly List<string> _firstCompensations = [];
        private int _terminalMessages;

        public Observed(Scenario scenario)
        {
            _scenario = scenario;
            var deadline = scenario.DeadlineSeconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
            _saga = SagaDriver.Start(scenario.ToDefinition(), deadline: deadline);
            Observe(null, _saga.Last, "start");
        }

        public SagaDriver Saga => _saga;

        private SagaInstance Instance => _saga.Instance;

        public void Play()
        {
            // Replies keep coming after the saga ended too: they must change nothing but the history.
            foreach (var step in _scenario.Script)
            {
                Apply(step);
                if (step.Duplicate)
                {
                    Apply(step with { AdvanceMs = 0 });
                }
            }
        }

        /// <summary>A participant world that eventually answers or stays silent until timers fire.</summary>
        public void Drain()
        {
            var random = new Random(_scenario.DrainSeed);
            for (var i = 0; i < MaxDecisions && !Instance.State.IsTerminal(); i++)
            {
                var active = Instance.Steps.FindIndex(s => s.Status is StepStatus.Running or StepStatus.Compensating);
                var roll = random.Next(100);
                if (active >= 0 && Instance.Steps[active].Status == StepStatus.Running && roll < 70)
                {
                    var step = Instance.Steps[active];
                    var attempt = random.Next(4) == 0 ? Math.Max(1, step.Attempts - 1) : step.Attempts;
                    var kind = roll < 45 ? EventKind.Succeeded : roll < 55 ? EventKind.FailedBusiness : EventKind.FailedRetryable;
                    Send(kind, step.Name, attempt, retryAfterMs: random.Next(3) == 0 ? random.Next(1, 60_000) : 0, duplicate: random.Next(5) == 0);
                    continue;
                }

                if (active >= 0 && Instance.Steps[active].Status == StepStatus.Compensating && roll < 83)
                {
                    var step = Instance.Steps[active];
                    var kind = roll < 60 ? EventKind.Compensated : roll < 80 ? EventKind.CompensationFailedRetryable : EventKind.CompensationFailedFinal;
                    Send(kind, step.Name, step.CompensationAttempts, retryAfterMs: 0, duplicate: random.Next(5) == 0);
                    continue;
                }

                var wake = Instance.NextWakeAt;
                Assert.True(wake is not null, Fail("a non-terminal saga has no timer: nothing will ever wake it"));
                var at = wake!.Value > _saga.Now ? wake.Value : _saga.Now;
                var before = Instance;
                var decision = _saga.TickAt(at);
                Observe(before, decision, $"drain tick @{Offset(at)}");
            }

            Assert.True(Instance.State.IsTerminal(), Fail($"not terminal after {MaxDecisions} decisions"));
        }

        public void CheckOutcome()
        {
            var messages = _saga.AllMessages.ToList();
            var compensateSteps = messages.Select(m => m.Message).OfType<CompensateStep>().ToList();
            var statuses = Instance.Steps.ToDictionary(s => s.Name, s => s.Status, StringComparer.Ordinal);

            Assert.True(Instance.State.IsTerminal(), Fail("not terminal"));
            Assert.Null(Instance.NextWakeAt);
            Assert.All(Instance.Steps, s => Assert.Null(s.DueAt));
            Assert.True(_terminalMessages == 1, Fail($"{_terminalMessages} terminal events published"));

            // No step that never received an ExecuteStep is ever compensated; a step never executed stays Pending.
            foreach (var c in compensateSteps)
            {
                Assert.True(_executed.Contains(c.Step), Fail($"{c.Step} compensated without ever being executed"));
            }

            foreach (var step in Instance.Steps.Where(s => !_executed.Contains(s.Name)))
            {
                Assert.True(step.Status == StepStatus.Pending, Fail($"{step.Name} never executed but is {step.Status}"));
            }

            // Compensations are issued in strictly reverse step order.
            var order = _firstCompensations.Select(name => _saga.Definition.IndexOf(name)).ToList();
            for (var i = 1; i < order.Count; i++)
            {
                Assert.True(order[i] < order[i - 1], Fail($"compensations out of order: {string.Join(",", _firstCompensations)}"));
            }

            var effective = _saga.AllHistory.Where(h => h.Type == HistoryTypes.StepCompensated).GroupBy(h => h.Step!, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            Assert.True(effective.Values.All(n => n == 1), Fail("a step was compensated more than once"));

            switch (Instance.State)
            {
                case SagaState.Completed:
                    Assert.True(statuses.Values.All(s => s == StepStatus.Succeeded), Fail("completed with a step not Succeeded"));
                    Assert.True(compensateSteps.Count == 0, Fail("completed but a CompensateStep was sent"));
                    Assert.Null(Instance.Reason);
                    break;
                case SagaState.Compensated:
                    foreach (var name in _mayHaveRun)
                    {
                        Assert.True(statuses[name] == StepStatus.Compensated, Fail($"{name} succeeded or may have run but ended {statuses[name]}"));
                        Assert.True(effective.GetValueOrDefault(name) == 1, Fail($"{name} has {effective.GetValueOrDefault(name)} effective compensations"));
                    }

                    foreach (var (name, status) in statuses)
                    {
                        Assert.True(
                            status is StepStatus.Pending or StepStatus.Failed or StepStatus.Compensated,
                            Fail($"compensated saga has step {name} {status}"));
                        Assert.True(status != StepStatus.Compensated || _mayHaveRun.Contains(name), Fail($"{name} compensated but never succeeded nor timed out"));
                    }

                    Assert.True(statuses.Values.Count(s => s == StepStatus.Failed) <= 1, Fail("more than one business failure"));
                    Assert.False(string.IsNullOrEmpty(Instance.Reason));
                    break;
                case SagaState.Failed:
                    // Only compensatable steps here, so Failed means a compensation could not complete.
                    Assert.True(statuses.Values.Count(s => s == StepStatus.CompensationFailed) == 1, Fail("failed without exactly one failed compensation"));
                    Assert.False(string.IsNullOrEmpty(Instance.Reason));
                    var failedAt = Instance.Steps.FindIndex(s => s.Status == StepStatus.CompensationFailed);
                    for (var i = failedAt + 1; i < Instance.Steps.Count; i++)
                    {
                        var name = Instance.Steps[i].Name;
                        if (_mayHaveRun.Contains(name))
                        {
                            Assert.True(statuses[name] == StepStatus.Compensated, Fail($"{name} after the failed compensation ended {statuses[name]}"));
                        }
                    }

                    break;
                default:
                    Assert.Fail(Fail($"unexpected terminal state {Instance.State}"));
                    break;
            }
        }

        private void Apply(ScriptEvent e)
        {
            if (e.Kind == EventKind.Tick)
            {
                var before = Instance;
                var decision = _saga.TickAt(_saga.Now + TimeSpan.FromMilliseconds(e.AdvanceMs));
                Observe(before, decision, $"tick @{Offset(_saga.Now)}");
                return;
            }

            _saga.Advance(TimeSpan.FromMilliseconds(e.AdvanceMs));
            var steps = Instance.Steps;
            var active = steps.FindIndex(s => s.Status is StepStatus.Running or StepStatus.RetryScheduled
                or StepStatus.Compensating or StepStatus.CompensationRetryScheduled);
            var index = e.Targeted && active >= 0 ? active : e.StepPick % steps.Count;
            var target = steps[index];
            var compensation = e.Kind is EventKind.Compensated or EventKind.CompensationFailedRetryable or EventKind.CompensationFailedFinal;
            var attempt = Math.Max(1, (compensation ? target.CompensationAttempts : target.Attempts) + e.AttemptOffset);
            Send(e.Kind, e.StepPick % 11 == 10 ? "no-such-step" : target.Name, attempt, e.RetryAfterMs, duplicate: false);
        }

        private void Send(EventKind kind, string step, int attempt, int retryAfterMs, bool duplicate)
        {
            var id = _saga.SagaId;
            object message = kind switch
            {
                EventKind.Succeeded => new StepSucceeded(id, step, attempt),
                EventKind.FailedRetryable => new StepFailed(id, step, attempt, true, "transient",
                    retryAfterMs > 0 ? TimeSpan.FromMilliseconds(retryAfterMs) : null),
                EventKind.FailedBusiness => new StepFailed(id, step, attempt, false, "business"),
                EventKind.Compensated => new StepCompensated(id, step, attempt),
                EventKind.CompensationFailedRetryable => new CompensationFailed(id, step, attempt, true, "transient"),
                EventKind.CompensationFailedFinal => new CompensationFailed(id, step, attempt, false, "final"),
                _ => throw new ArgumentOutOfRangeException(nameof(kind)),
            };

            for (var i = 0; i < (duplicate ? 2 : 1); i++)
            {
                var before = Instance;
                var decision = _saga.Apply(new SagaEvent.Reply(message));
                Observe(before, decision, $"{kind} {step}#{attempt}");
                if (i == 1)
                {
                    // Applying the same reply again changes nothing but the history.
                    Assert.True(decision.Messages.Count == 0, Fail("a duplicate reply sent messages"));
                    Assert.True(
                        decision.History.All(h => h.Type == HistoryTypes.ReplyIgnored),
                        Fail("a duplicate reply did more than ReplyIgnored"));
                    Assert.Equal(before.State, decision.Instance.State);
                    Assert.Equal(before.Steps.Select(s => s.Status), decision.Instance.Steps.Select(s => s.Status));
                }
            }
        }

        /// <summary>Per-decision invariants, and bookkeeping for the final checks.</summary>
        private void Observe(SagaInstance? before, Decision decision, string what)
        {
            var after = decision.Instance;
            _trace.Add($"{what} -> {after.State} [{string.Join(",", after.Steps.Select(s => $"{s.Name}:{s.Status}#{s.Attempts}/{s.CompensationAttempts}"))}] msgs [{string.Join(",", decision.Messages.Describe())}]");

            var previousSequence = before?.HistorySequence ?? 0;
            var expected = Enumerable.Range(previousSequence + 1, decision.History.Count);
            Assert.True(expected.SequenceEqual(decision.History.Select(h => h.Sequence)), Fail("history sequence has a gap or repeats"));
            Assert.True(after.HistorySequence == previousSequence + decision.History.Count, Fail("HistorySequence does not match the entries written"));
            Assert.True(
                after.ConcurrencyVersion == (before?.ConcurrencyVersion ?? 0) + (decision.Changed ? 1 : 0),
                Fail("ConcurrencyVersion did not move by exactly one on a change"));

            if (before is not null && before.State.IsTerminal())
            {
                Assert.True(decision.Messages.Count == 0, Fail("a terminal saga sent messages"));
                Assert.True(after.State == before.State, Fail("a terminal saga changed state"));
            }

            if (!after.State.IsTerminal())
            {
                Assert.True(after.NextWakeAt is not null, Fail("a non-terminal saga has no wake-up time"));
            }

            if (what.StartsWith("tick", StringComparison.Ordinal) || what.StartsWith("drain tick", StringComparison.Ordinal))
            {
                Assert.True(after.NextWakeAt is null || after.NextWakeAt > _saga.Now, Fail("after a tick the next wake-up is not in the future"));
            }

            foreach (var m in decision.Messages)
            {
                switch (m.Message)
                {
                    case ExecuteStep e:
                        Assert.True(after.State == SagaState.Running, Fail("ExecuteStep sent while not running"));
                        _executed.Add(e.Step);
                        break;
                    case CompensateStep c:
                        if (!_firstCompensations.Contains(c.Step))
                        {
                            _firstCompensations.Add(c.Step);
                        }

                        break;
                    case SagaCompleted or SagaCompensated or SagaFailed:
                        _terminalMessages++;
                        break;
                }
            }

            for (var i = 0; i < after.Steps.Count; i++)
            {
                var now = after.Steps[i].Status;
                var was = before?.Steps[i].Status ?? StepStatus.Pending;
                var enteredCompensation = now is StepStatus.Compensating or StepStatus.CompensationRetryScheduled
                    or StepStatus.Compensated or StepStatus.CompensationFailed;
                var wasCompensating = was is StepStatus.Compensating or StepStatus.CompensationRetryScheduled
                    or StepStatus.Compensated or StepStatus.CompensationFailed;
                if (now is StepStatus.Succeeded or StepStatus.TimedOut ||
                    (enteredCompensation && !wasCompensating && was.MayHaveRun()))
                {
                    _mayHaveRun.Add(after.Steps[i].Name);
                }
            }
        }

        private string Fail(string message) =>
            $"{message}\nscenario: {_scenario}\ntrace:\n  {string.Join("\n  ", _trace.TakeLast(60))}";

        private static string Offset(DateTimeOffset at) => (at - SagaDriver.T0).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms";
    }
}

public enum EventKind
{
    Succeeded,
    FailedRetryable,
    FailedBusiness,
    Compensated,
    CompensationFailedRetryable,
    CompensationFailedFinal,
    Tick,
}

public sealed record StepSpec(int TimeoutSeconds, int MaxAttempts, int InitialDelayMs, int MaxDelayMs, double Multiplier, int CompensationAttempts, int? CompensationTimeoutSeconds)
{
    public override string ToString() =>
        $"(t={TimeoutSeconds}s max={MaxAttempts} delay={InitialDelayMs}..{MaxDelayMs}ms x{Multiplier} comp={CompensationAttempts} ct={CompensationTimeoutSeconds})";
}

/// <summary>One scripted event; steps and attempts are picked relative to the saga's state when it is applied.</summary>
public sealed record ScriptEvent(EventKind Kind, int StepPick, bool Targeted, int AttemptOffset, int AdvanceMs, int RetryAfterMs, bool Duplicate)
{
    public override string ToString() =>
        $"{Kind}(step={(Targeted ? "active" : StepPick.ToString(CultureInfo.InvariantCulture))} off={AttemptOffset} +{AdvanceMs}ms ra={RetryAfterMs}{(Duplicate ? " dup" : "")})";
}

public sealed record Scenario(IReadOnlyList<StepSpec> Steps, int? DeadlineSeconds, IReadOnlyList<ScriptEvent> Script, int DrainSeed)
{
    public SagaDefinition ToDefinition()
    {
        var builder = SagaDefinitionBuilder.Create("random", 1);
        for (var i = 0; i < Steps.Count; i++)
        {
            var spec = Steps[i];
            builder.Step($"s{i}", s =>
            {
                var b = s.On($"p{i}").Action($"do-{i}").Compensation($"undo-{i}")
                    .Timeout(TimeSpan.FromSeconds(spec.TimeoutSeconds))
                    .Retry(spec.MaxAttempts, TimeSpan.FromMilliseconds(spec.InitialDelayMs), TimeSpan.FromMilliseconds(spec.MaxDelayMs), spec.Multiplier)
                    .CompensationRetry(spec.CompensationAttempts, TimeSpan.FromMilliseconds(spec.InitialDelayMs), TimeSpan.FromMilliseconds(spec.MaxDelayMs), spec.Multiplier);
                return spec.CompensationTimeoutSeconds is { } ct ? b.CompensationTimeout(TimeSpan.FromSeconds(ct)) : b;
            });
        }

        return builder.Build();
    }

    public override string ToString() =>
        $"steps=[{string.Join(" ", Steps)}] deadline={DeadlineSeconds?.ToString(CultureInfo.InvariantCulture) ?? "none"} seed={DrainSeed} script=[{string.Join(" ", Script)}]";
}

public static class ScenarioArbitrary
{
    public static Arbitrary<Scenario> Scenarios() => Arb.From(ScenarioGen);

    private static readonly Gen<StepSpec> StepGen =
        from timeout in Gen.Choose(1, 30)
        from max in Gen.Choose(1, 5)
        from initial in Gen.Choose(0, 2_000)
        from extra in Gen.Choose(0, 10_000)
        from multiplier in Gen.Elements(1.0, 1.5, 2.0, 3.0)
        from compensationAttempts in Gen.Choose(1, 5)
        from compensationTimeout in Gen.Frequency((1, Gen.Constant<int?>(null)), (2, Gen.Choose(1, 30).Select(x => (int?)x)))
        select new StepSpec(timeout, max, initial, initial + extra, multiplier, compensationAttempts, compensationTimeout);

    private static readonly Gen<ScriptEvent> EventGen =
        from kind in Gen.Frequency(
            (6, Gen.Constant(EventKind.Succeeded)),
            (2, Gen.Constant(EventKind.FailedRetryable)),
            (1, Gen.Constant(EventKind.FailedBusiness)),
            (3, Gen.Constant(EventKind.Compensated)),
            (1, Gen.Constant(EventKind.CompensationFailedRetryable)),
            (1, Gen.Constant(EventKind.CompensationFailedFinal)),
            (5, Gen.Constant(EventKind.Tick)))
        from step in Gen.Choose(0, 21)
        from targeted in Gen.Frequency((3, Gen.Constant(true)), (1, Gen.Constant(false)))
        from offset in Gen.Frequency((6, Gen.Constant(0)), (2, Gen.Constant(-1)), (1, Gen.Constant(1)), (1, Gen.Constant(-2)))
        from advance in Gen.Frequency((3, Gen.Constant(0)), (4, Gen.Choose(1, 3_000)), (3, Gen.Choose(3_000, 40_000)))
        from retryAfter in Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Choose(1, 60_000)))
        from duplicate in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        select new ScriptEvent(kind, step, targeted, offset, advance, retryAfter, duplicate);

    internal static readonly Gen<Scenario> ScenarioGen =
        from count in Gen.Choose(1, 6)
        from steps in Gen.ListOf(StepGen, count)
        from deadline in Gen.Frequency((3, Gen.Constant<int?>(null)), (1, Gen.Choose(5, 300).Select(x => (int?)x)))
        from length in Gen.Choose(0, 60)
        from script in Gen.ListOf(EventGen, length)
        from seed in Gen.Choose(0, int.MaxValue - 1)
        select new Scenario(steps.ToArray(), deadline, script.ToArray(), seed);
}
