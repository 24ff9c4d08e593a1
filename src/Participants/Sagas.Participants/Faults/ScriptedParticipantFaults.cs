namespace Sagas.Participants;

/// <summary>
/// Rules checked in the order added; the first matching rule with uses left decides. Thread-safe, so one
/// instance can serve every participant of a test host:
/// <code>services.AddSingleton&lt;IParticipantFaults&gt;(new ScriptedParticipantFaults().Drop(f =&gt; f.Step == "ship", times: 1));</code>
/// </summary>
public sealed class ScriptedParticipantFaults : IParticipantFaults
{
    private readonly List<Rule> _rules = [];
    private readonly Lock _lock = new();

    /// <summary>How many deliveries each rule has decided so far, for assertions.</summary>
    public int Hits(int ruleIndex)
    {
        lock (_lock)
        {
            return _rules[ruleIndex].Used;
        }
    }

    public ScriptedParticipantFaults Drop(Func<FaultContext, bool> match, int times = int.MaxValue) =>
        Add(match, times, _ => FaultDecision.Drop);

    public ScriptedParticipantFaults Hold(Func<FaultContext, bool> match, Task release, int times = 1) =>
        Add(match, times, _ => FaultDecision.HoldUntil(release));

    /// <summary>Fails actions with a retryable failure while their attempt number is at most <paramref name="firstAttempts"/>.</summary>
    public ScriptedParticipantFaults FailActionAttempts(Func<FaultContext, bool> match, int firstAttempts, TimeSpan? retryAfter = null, string reason = "injected transient failure") =>
        Add(f => !f.IsCompensation && f.Attempt <= firstAttempts && match(f), int.MaxValue, _ => FaultDecision.FailAction(reason, retryAfter));

    public ScriptedParticipantFaults FailCompensation(Func<FaultContext, bool> match, bool retryable, int times = int.MaxValue, string reason = "injected compensation failure") =>
        Add(f => f.IsCompensation && match(f), times, _ => FaultDecision.FailCompensation(retryable, reason));

    /// <summary>Lets matching deliveries through unchanged after showing them to <paramref name="observe"/> (e.g. to record the data a step saw).</summary>
    public ScriptedParticipantFaults Observe(Func<FaultContext, bool> match, Action<FaultContext> observe)
    {
        ArgumentNullException.ThrowIfNull(observe);
        return Add(match, int.MaxValue, f =>
        {
            observe(f);
            return FaultDecision.None;
        });
    }

    public ScriptedParticipantFaults Add(Func<FaultContext, bool> match, int times, Func<FaultContext, FaultDecision> decide)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentNullException.ThrowIfNull(decide);
        lock (_lock)
        {
            _rules.Add(new Rule(match, times, decide));
        }

        return this;
    }

    public ValueTask<FaultDecision> BeforeAsync(FaultContext context, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var rule in _rules)
            {
                if (rule.Used < rule.Times && rule.Match(context))
                {
                    rule.Used++;
                    return ValueTask.FromResult(rule.Decide(context));
                }
            }
        }

        return ValueTask.FromResult(FaultDecision.None);
    }

    private sealed class Rule(Func<FaultContext, bool> match, int times, Func<FaultContext, FaultDecision> decide)
    {
        public Func<FaultContext, bool> Match { get; } = match;

        public int Times { get; } = times;

        public Func<FaultContext, FaultDecision> Decide { get; } = decide;

        public int Used { get; set; }
    }
}
