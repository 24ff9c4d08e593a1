using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sagas.Contracts;
using Sagas.Contracts.Definitions;

namespace Sagas.Coordinator.Engine;

/// <summary>
/// The decision core: (definition, instance, event, now) -> (new instance, messages, history).
/// No I/O and no clock, so every path can be tested and replayed. The caller stores the decision
/// in one transaction and sends the messages after commit.
/// </summary>
public static class SagaEngine
{
    public const string SystemActor = "coordinator";

    /// <summary>Creates a saga and sends its first command.</summary>
    public static Decision Start(SagaDefinition definition, StartRequest request, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(request);
        var instance = new SagaInstance
        {
            Id = request.SagaId,
            Definition = definition.Name,
            Version = definition.Version,
            State = SagaState.Running,
            Data = request.Data,
            BusinessKey = request.BusinessKey,
            Tenant = request.Tenant,
            CreatedAt = now,
            UpdatedAt = now,
            Steps = definition.Steps.Select(s => new StepState { Name = s.Name }).ToList(),
        };
        var deadline = request.Deadline ?? definition.Deadline;
        if (deadline is { } d)
        {
            instance.DeadlineAt = WholeMilliseconds(now + d);
        }

        var run = new Run(definition, instance, now);
        run.Record(HistoryTypes.SagaStarted, null, null, $"definition {definition.Key}");
        run.Advance();
        return run.Finish();
    }

    /// <summary>Applies one event to a copy of <paramref name="current"/>.</summary>
    public static Decision Handle(SagaDefinition definition, SagaInstance current, SagaEvent evt, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(evt);
        var run = new Run(definition, current.Clone(), now);
        if (evt is SagaEvent.Reply reply && current.State == SagaState.Paused)
        {
            // Only a reply to a command in flight is kept for the resume; any other would be ignored anyway,
            // and must not match a command that is only sent after the resume.
            if (run.AnswersCommandInFlight(reply.Message))
            {
                run.Defer(reply.Message);
            }
            else
            {
                run.Dispatch(reply.Message);
            }

            return run.Finish();
        }

        switch (evt)
        {
            case SagaEvent.Tick:
                run.OnTick();
                break;
            case SagaEvent.Operator op:
                run.OnOperator(op.Command);
                if (run.Rejection is { } rejection)
                {
                    return new Decision(current.Clone(), [], []) { Rejection = rejection };
                }

                break;
            case SagaEvent.Reply r:
                run.Dispatch(r.Message);
                break;
            default:
                throw new ArgumentException($"The engine does not handle {evt.GetType().Name}", nameof(evt));
        }

        return run.Finish();
    }

    private static readonly JsonSerializerOptions ReplyJson = new(JsonSerializerDefaults.Web);

    /// <summary>The step and attempt a participant reply answers.</summary>
    private static (string? Step, int Attempt) ReplyKey(object message) => message switch
    {
        StepSucceeded m => (m.Step, m.Attempt),
        StepFailed m => (m.Step, m.Attempt),
        StepCompensated m => (m.Step, m.Attempt),
        CompensationFailed m => (m.Step, m.Attempt),
        StepHeartbeat m => (m.Step, m.Attempt),
        _ => (null, 0),
    };

    /// <summary>
    /// Times the Engine stores in a column and reads back (the deadline) are kept to whole milliseconds, which every
    /// provider stores exactly (SQLite keeps 0.1 ms, PostgreSQL 1 µs): otherwise a replay of the inputs would see a
    /// more precise deadline than the live saga did.
    /// </summary>
    private static DateTimeOffset WholeMilliseconds(DateTimeOffset at) =>
        new(at.UtcTicks - (at.UtcTicks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);

    /// <summary>The working state of one decision.</summary>
    private sealed class Run(SagaDefinition definition, SagaInstance instance, DateTimeOffset now)
    {
        private readonly List<OutgoingMessage> _messages = [];
        private readonly List<HistoryEntry> _history = [];

        public string? Rejection { get; private set; }

        /// <summary>Set while replies deferred during a pause are applied for a cancel: nothing new may start only to be undone.</summary>
        private bool _holdForward;

        public string? Note { get; private set; }

        public Decision Finish()
        {
            if (_history.Count > 0 || _messages.Count > 0)
            {
                instance.UpdatedAt = now;
                instance.ConcurrencyVersion++;
            }

            instance.NextWakeAt = NextWake();
            return new Decision(instance, _messages, _history) { Note = Note };
        }

        public void Record(string type, string? step, int? attempt, string? detail, string actor = SystemActor)
        {
            instance.HistorySequence++;
            _history.Add(new HistoryEntry(instance.HistorySequence, now, type, step, attempt, detail, actor));
        }

        public bool AnswersCommandInFlight(object message)
        {
            var (name, attempt) = ReplyKey(message);
            var step = name is null ? null : instance.FindStep(name);
            return step is not null && message switch
            {
                StepSucceeded => step.Status is StepStatus.Running or StepStatus.RetryScheduled && attempt >= 1 && attempt <= step.Attempts,
                StepFailed or StepHeartbeat => step.Status == StepStatus.Running && attempt == step.Attempts,
                StepCompensated => step.Status is StepStatus.Compensating or StepStatus.CompensationRetryScheduled,
                CompensationFailed => step.Status == StepStatus.Compensating && attempt == step.CompensationAttempts,
                _ => false,
            };
        }

        /// <summary>Paused: keep the reply, apply it on resume.</summary>
        public void Defer(object message)
        {
            var (step, attempt) = ReplyKey(message);
            instance.Deferred.Add(new DeferredReply(message.GetType().Name, JsonSerializer.Serialize(message, message.GetType(), ReplyJson), now));
            Record(HistoryTypes.ReplyDeferred, step, attempt, $"{message.GetType().Name} kept until the saga is resumed");
        }

        public void OnOperator(OperatorCommand command)
        {
            switch (command)
            {
                case OperatorCommand.Cancel c:
                    Cancel(c);
                    break;
                case OperatorCommand.Pause p:
                    Pause(p);
                    break;
                case OperatorCommand.Resume r:
                    Resume(r);
                    break;
                case OperatorCommand.Retry r:
                    Retry(r);
                    break;
                case OperatorCommand.SkipCompensation k:
                    Skip(k);
                    break;
                case OperatorCommand.Signal g:
                    Signal(g);
                    break;
                case OperatorCommand.ChangeDeadline d:
                    ChangeDeadline(d);
                    break;
                default:
                    throw new ArgumentException($"Unknown operator command {command.GetType().Name}", nameof(command));
            }
        }

        /// <summary>Applies one reply by its message type (also used for replies deferred while paused).</summary>
        public void Dispatch(object message)
        {
            switch (message)
            {
                case StepSucceeded m:
                    OnStepSucceeded(m);
                    break;
                case StepFailed m:
                    OnStepFailed(m);
                    break;
                case StepCompensated m:
                    OnStepCompensated(m);
                    break;
                case CompensationFailed m:
                    OnCompensationFailed(m);
                    break;
                case StepHeartbeat m:
                    OnHeartbeat(m);
                    break;
                default:
                    throw new ArgumentException($"The engine does not handle {message.GetType().Name}", nameof(message));
            }
        }

        private void Cancel(OperatorCommand.Cancel c)
        {
            var running = instance.State == SagaState.Running ||
                (instance.State == SagaState.Paused && instance.PausedFrom == SagaState.Running);
            if (!running)
            {
                Rejection = instance.State == SagaState.Compensating || instance.PausedFrom == SagaState.Compensating
                    ? "the saga is already compensating"
                    : $"a {instance.State} saga cannot be cancelled; cancel applies to Running or Paused sagas";
                return;
            }

            if (PivotPassed())
            {
                Rejection = "the pivot step has succeeded: the saga can no longer be undone";
                return;
            }

            Record(HistoryTypes.CancelRequested, null, null, c.Reason, c.Actor);
            if (instance.State == SagaState.Paused)
            {
                _holdForward = true;
                Unpause();
                _holdForward = false;
            }

            // A reply applied on unpause may already have ended or rolled back the saga: the cancel stays on record.
            if (instance.State == SagaState.Running)
            {
                BeginCompensation($"cancelled by {c.Actor}: {c.Reason}", CompensationTriggers.Cancel);
            }
        }

        private void Pause(OperatorCommand.Pause p)
        {
            if (instance.State is not (SagaState.Running or SagaState.Compensating))
            {
                Rejection = $"a {instance.State} saga cannot be paused; pause applies to Running or Compensating sagas";
                return;
            }

            instance.PausedFrom = instance.State;
            instance.State = SagaState.Paused;
            Record(HistoryTypes.SagaPaused, null, null, p.Reason, p.Actor);
        }

        private void Resume(OperatorCommand.Resume r)
        {
            if (instance.State != SagaState.Paused)
            {
                Rejection = $"a {instance.State} saga is not paused";
                return;
            }

            Record(HistoryTypes.SagaResumed, null, null, r.Reason, r.Actor);
            Unpause();
            if (instance.State == SagaState.Running)
            {
                TryConsumeSignals();
                Advance();
            }
            else if (instance.State == SagaState.Compensating)
            {
                CompensateNext();
            }
        }

        /// <summary>Back to the state before the pause, then the replies that waited, in arrival order.</summary>
        private void Unpause()
        {
            instance.State = instance.PausedFrom ?? SagaState.Running;
            instance.PausedFrom = null;
            var deferred = instance.Deferred;
            instance.Deferred = [];
            foreach (var reply in deferred)
            {
                var type = reply.Type switch
                {
                    nameof(StepSucceeded) => typeof(StepSucceeded),
                    nameof(StepFailed) => typeof(StepFailed),
                    nameof(StepCompensated) => typeof(StepCompensated),
                    nameof(CompensationFailed) => typeof(CompensationFailed),
                    nameof(StepHeartbeat) => typeof(StepHeartbeat),
                    _ => throw new InvalidOperationException($"Unknown deferred reply type {reply.Type}"),
                };
                Dispatch(JsonSerializer.Deserialize(reply.Json, type, ReplyJson)!);
            }
        }

        private void Retry(OperatorCommand.Retry r)
        {
            var candidates = new List<int>();
            for (var i = instance.Steps.Count - 1; i >= 0; i--)
            {
                if (r.Step is null || string.Equals(instance.Steps[i].Name, r.Step, StringComparison.Ordinal))
                {
                    candidates.Add(i);
                }
            }

            if (r.Step is not null && candidates.Count == 0)
            {
                Rejection = $"the definition has no step '{r.Step}'";
                return;
            }

            foreach (var i in candidates)
            {
                if (TryRetry(definition.Steps[i], instance.Steps[i], r))
                {
                    return;
                }
            }

            Rejection = r.Step is null
                ? $"nothing to retry: the saga is {instance.State} with no failed compensation and no step waiting for a retry"
                : $"step '{r.Step}' is {instance.Steps[candidates[0]].Status} in a {instance.State} saga: only a failed compensation, a step failed after the pivot, or a scheduled retry can be retried";
        }

        private bool TryRetry(StepDefinition def, StepState step, OperatorCommand.Retry r)
        {
            switch (instance.State, step.Status)
            {
                case (SagaState.Failed, StepStatus.CompensationFailed):
                    Record(HistoryTypes.RetryRequested, step.Name, step.CompensationAttempts + 1, r.Reason, r.Actor);
                    Reopen(SagaState.Compensating, step);
                    SendCompensation(def, step, step.CompensationAttempts + 1);
                    return true;
                case (SagaState.Failed, StepStatus.Failed or StepStatus.TimedOut) when PivotPassed():
                    Record(HistoryTypes.RetryRequested, step.Name, step.Attempts + 1, r.Reason, r.Actor);
                    Reopen(SagaState.Running, step);
                    SendAction(def, step, step.Attempts + 1);
                    return true;
                case (SagaState.Running, StepStatus.RetryScheduled):
                    Record(HistoryTypes.RetryRequested, step.Name, step.Attempts + 1, r.Reason, r.Actor);
                    SendAction(def, step, step.Attempts + 1);
                    return true;
                case (SagaState.Compensating, StepStatus.CompensationFailed):
                    // Failed for good while sibling compensations were still out: try it again now.
                    Record(HistoryTypes.RetryRequested, step.Name, step.CompensationAttempts + 1, r.Reason, r.Actor);
                    SendCompensation(def, step, step.CompensationAttempts + 1);
                    return true;
                case (SagaState.Compensating, StepStatus.CompensationRetryScheduled):
                    Record(HistoryTypes.RetryRequested, step.Name, step.CompensationAttempts + 1, r.Reason, r.Actor);
                    SendCompensation(def, step, step.CompensationAttempts + 1);
                    return true;
                default:
                    return false;
            }
        }

        private void Skip(OperatorCommand.SkipCompensation k)
        {
            var index = definition.IndexOf(k.Step);
            if (index < 0)
            {
                Rejection = $"the definition has no step '{k.Step}'";
                return;
            }

            var step = instance.Steps[index];
            var inDoubt = instance.State == SagaState.Compensating &&
                step.Status is StepStatus.Compensating or StepStatus.CompensationRetryScheduled;
            var failed = instance.State is SagaState.Failed or SagaState.Compensating && step.Status == StepStatus.CompensationFailed;
            if (!inDoubt && !failed)
            {
                Rejection = $"the compensation of '{k.Step}' is neither failed nor in progress (step {step.Status}, saga {instance.State})";
                return;
            }

            step.Status = StepStatus.CompensationSkipped;
            step.DueAt = null;
            step.CompensationStartedAt ??= now;
            step.CompensatedAt = now;
            Record(HistoryTypes.CompensationSkipped, step.Name, step.CompensationAttempts, k.Reason, k.Actor);
            if (instance.State == SagaState.Failed)
            {
                Reopen(SagaState.Compensating, step);
            }

            CompensateNext();
        }

        private void Signal(OperatorCommand.Signal g)
        {
            instance.Signals.Add(new ReceivedSignal(g.Name, g.Payload, now, g.Actor, Consumed: false));
            Record(HistoryTypes.SignalReceived, null, null, string.IsNullOrEmpty(g.Reason) ? g.Name : $"{g.Name}: {g.Reason}", g.Actor);
            if (!TryConsumeSignals())
            {
                Note = instance.State.IsTerminal()
                    ? $"the saga is {instance.State}; the signal '{g.Name}' is recorded but nothing will use it"
                    : $"no step is waiting for '{g.Name}' yet; it is kept until one does";
            }
        }

        private void ChangeDeadline(OperatorCommand.ChangeDeadline d)
        {
            if (instance.State.IsTerminal())
            {
                Rejection = $"a {instance.State} saga has no deadline to change";
                return;
            }

            var before = instance.DeadlineAt;
            instance.DeadlineAt = d.DeadlineAt is { } at ? WholeMilliseconds(at) : null;
            Record(HistoryTypes.DeadlineChanged, null, null,
                $"{(before is { } b ? b.ToString("O", CultureInfo.InvariantCulture) : "none")} -> {(d.DeadlineAt is { } a ? a.ToString("O", CultureInfo.InvariantCulture) : "none")}: {d.Reason}", d.Actor);
        }

        /// <summary>Takes a terminal saga back into play for an operator's retry or skip.</summary>
        private void Reopen(SagaState state, StepState target)
        {
            instance.State = state;
            instance.CompletedAt = null;

            // Commands that were out when the saga stopped lost their timers: send them again (the barrier
            // turns a repeat into the original answer) so each has a reply or a timeout to wait for.
            for (var i = 0; i < instance.Steps.Count; i++)
            {
                var step = instance.Steps[i];
                if (ReferenceEquals(step, target))
                {
                    continue;
                }

                if (step.Status == StepStatus.Running && state == SagaState.Running)
                {
                    SendAction(definition.Steps[i], step, step.Attempts + 1);
                }
                else if (step.Status == StepStatus.Compensating)
                {
                    SendCompensation(definition.Steps[i], step, step.CompensationAttempts + 1);
                }
            }
        }

        /// <summary>Hands waiting signals to wait steps. Returns whether any was taken.</summary>
        private bool TryConsumeSignals()
        {
            if (instance.State != SagaState.Running)
            {
                return false;
            }

            var taken = false;
            for (var i = 0; i < instance.Steps.Count; i++)
            {
                if (instance.Steps[i].Status == StepStatus.Waiting && TakeSignal(definition.Steps[i], instance.Steps[i]))
                {
                    taken = true;
                }
            }

            if (taken)
            {
                Advance();
            }

            return taken;
        }


        /// <summary>Runs the next pending step, or completes the saga.</summary>
        public void Advance()
        {
            if (instance.State != SagaState.Running || _holdForward)
            {
                return;
            }

            for (var i = 0; i < instance.Steps.Count; i++)
            {
                if (instance.Steps[i].Status == StepStatus.Succeeded)
                {
                    continue;
                }

                // Fan out: every pending step of the group starts now; fan in: go on once all have succeeded.
                var (first, last) = GroupRange(i);
                for (var j = first; j <= last; j++)
                {
                    if (instance.Steps[j].Status == StepStatus.Pending)
                    {
                        StartStep(definition.Steps[j], instance.Steps[j]);
                    }
                }

                if (instance.State == SagaState.Running && GroupSucceeded(first, last))
                {
                    // A wait step took a signal that was already there: carry on.
                    continue;
                }

                if (GroupSettledWithFailure(first, last))
                {
                    // Only after the pivot does a failed step stay in a Running saga: it cannot go on nor back.
                    Finalize(SagaState.Failed, instance.Reason);
                }

                return;
            }

            Finalize(SagaState.Completed, null);
        }

        private void StartStep(StepDefinition def, StepState step)
        {
            if (!def.IsWait)
            {
                SendAction(def, step, 1);
                return;
            }

            step.Status = StepStatus.Waiting;
            step.Attempts = 1;
            step.StartedAt ??= now;
            step.DueAt = now + def.Timeout;
            Record(HistoryTypes.WaitStarted, step.Name, null, $"waiting up to {def.Timeout} for signal '{def.WaitFor}'");
            TakeSignal(def, step);
        }

        /// <summary>Gives a waiting step the oldest unused signal of its name, if one has arrived.</summary>
        private bool TakeSignal(StepDefinition def, StepState step)
        {
            var index = instance.Signals.FindIndex(s => !s.Consumed && string.Equals(s.Name, def.WaitFor, StringComparison.Ordinal));
            if (index < 0)
            {
                return false;
            }

            var signal = instance.Signals[index];
            instance.Signals[index] = signal with { Consumed = true };
            MergePayload(signal.Payload);
            step.Status = StepStatus.Succeeded;
            step.DueAt = null;
            step.FinishedAt = now;
            Record(HistoryTypes.SignalConsumed, step.Name, null, $"signal '{signal.Name}' from {signal.Actor}");
            return true;
        }

        private (int First, int Last) GroupRange(int index)
        {
            var group = definition.Steps[index].Group;
            if (group is null)
            {
                return (index, index);
            }

            var first = index;
            while (first > 0 && definition.Steps[first - 1].Group == group)
            {
                first--;
            }

            var last = index;
            while (last < definition.Steps.Count - 1 && definition.Steps[last + 1].Group == group)
            {
                last++;
            }

            return (first, last);
        }

        private bool GroupSettledWithFailure(int first, int last)
        {
            var failed = false;
            for (var j = first; j <= last; j++)
            {
                var status = instance.Steps[j].Status;
                if (status is StepStatus.Running or StepStatus.RetryScheduled or StepStatus.Waiting)
                {
                    return false;
                }

                failed |= status is StepStatus.Failed or StepStatus.TimedOut;
            }

            return failed;
        }

        private bool GroupSucceeded(int first, int last)
        {
            for (var j = first; j <= last; j++)
            {
                if (instance.Steps[j].Status != StepStatus.Succeeded)
                {
                    return false;
                }
            }

            return true;
        }

        public void OnStepSucceeded(StepSucceeded m)
        {
            var (def, step) = Find(m.Step);
            if (def is null || step is null)
            {
                Ignore(m.Step, m.Attempt, "succeeded reply for an unknown step");
                return;
            }

            // The barrier makes every attempt of a step converge on one outcome, so a success from an
            // earlier attempt is as good as one from the latest.
            var open = step.Status is StepStatus.Running or StepStatus.RetryScheduled;
            open = open && m.Attempt >= 1 && m.Attempt <= step.Attempts;
            if (instance.State == SagaState.Running && open)
            {
                step.Status = StepStatus.Succeeded;
                step.DueAt = null;
                step.FinishedAt = now;
                step.LastError = null;
                MergeOutput(step.Name, m.Output);
                Record(HistoryTypes.StepSucceeded, step.Name, m.Attempt, null);
                Advance();
                return;
            }

            if (instance.State == SagaState.Compensating && step.Status == StepStatus.Running && open)
            {
                // A branch the rollback was waiting for: it ran, so it joins the compensation.
                step.Status = StepStatus.Succeeded;
                step.DueAt = null;
                step.FinishedAt = now;
                MergeOutput(step.Name, m.Output);
                Record(HistoryTypes.StepSucceeded, step.Name, m.Attempt, "after the rollback began; it will be compensated");
                CompensateNext();
                return;
            }

            var why = step.Status == StepStatus.TimedOut && instance.State == SagaState.Compensating
                ? "late success of a step that timed out; its compensation undoes it"
                : $"succeeded reply while the step is {step.Status} and the saga {instance.State}";
            Ignore(step.Name, m.Attempt, why);
        }

        public void OnStepFailed(StepFailed m)
        {
            var (def, step) = Find(m.Step);
            if (def is null || step is null)
            {
                Ignore(m.Step, m.Attempt, "failed reply for an unknown step");
                return;
            }

            if (instance.State == SagaState.Compensating && step.Status == StepStatus.Running && m.Attempt == step.Attempts)
            {
                // An awaited branch failed: a business failure left nothing to undo; a retryable one is not retried now.
                Record(HistoryTypes.StepFailed, step.Name, m.Attempt, (m.Retryable ? "retryable, not retried during rollback: " : "") + m.Reason);
                step.Status = m.Retryable ? StepStatus.TimedOut : StepStatus.Failed;
                step.LastError = m.Reason;
                step.DueAt = null;
                step.FinishedAt = now;
                CompensateNext();
                return;
            }

            // Only the attempt in flight decides: an older attempt's failure says nothing about the newer one.
            if (instance.State != SagaState.Running || step.Status != StepStatus.Running || m.Attempt != step.Attempts)
            {
                Ignore(step.Name, m.Attempt, $"failed reply for attempt {m.Attempt} while the step is {step.Status} (attempt {step.Attempts}) and the saga {instance.State}: {m.Reason}");
                return;
            }

            step.LastError = m.Reason;
            if (m.Retryable)
            {
                Record(HistoryTypes.StepFailed, step.Name, m.Attempt, $"retryable: {m.Reason}");
                RetryOrGiveUp(def, step, m.RetryAfter, $"step {step.Name} failed {step.Attempts} times: {m.Reason}");
                return;
            }

            Record(HistoryTypes.StepFailed, step.Name, m.Attempt, m.Reason);
            step.Status = StepStatus.Failed;
            step.DueAt = null;
            step.FinishedAt = now;
            if (PivotPassed())
            {
                // Nothing can be undone; branches still out are let finish so the person who looks sees their outcome.
                instance.Reason = $"step {step.Name} failed after the pivot, so the saga cannot be undone: {m.Reason}";
                Advance();
                return;
            }

            BeginCompensation($"step {step.Name} failed: {m.Reason}", CompensationTriggers.StepFailure);
        }

        public void OnStepCompensated(StepCompensated m)
        {
            var (def, step) = Find(m.Step);
            if (def is null || step is null)
            {
                Ignore(m.Step, m.Attempt, "compensated reply for an unknown step");
                return;
            }

            if (instance.State != SagaState.Compensating ||
                step.Status is not (StepStatus.Compensating or StepStatus.CompensationRetryScheduled))
            {
                Ignore(step.Name, m.Attempt, $"compensated reply while the step is {step.Status} and the saga {instance.State}");
                return;
            }

            step.Status = StepStatus.Compensated;
            step.DueAt = null;
            step.CompensatedAt = now;
            Record(HistoryTypes.StepCompensated, step.Name, m.Attempt, null);
            CompensateNext();
        }

        public void OnCompensationFailed(CompensationFailed m)
        {
            var (def, step) = Find(m.Step);
            if (def is null || step is null)
            {
                Ignore(m.Step, m.Attempt, "compensation-failed reply for an unknown step");
                return;
            }

            if (instance.State != SagaState.Compensating || step.Status != StepStatus.Compensating ||
                m.Attempt != step.CompensationAttempts)
            {
                Ignore(step.Name, m.Attempt, $"compensation-failed reply for attempt {m.Attempt} while the step is {step.Status} (attempt {step.CompensationAttempts}): {m.Reason}");
                return;
            }

            step.LastError = m.Reason;
            Record(HistoryTypes.CompensationFailed, step.Name, m.Attempt, (m.Retryable ? "retryable: " : "") + m.Reason);
            if (m.Retryable && step.CompensationAttempts < def.CompensationRetry.MaxAttempts)
            {
                ScheduleCompensationRetry(def, step);
                return;
            }

            FailCompensation(step, $"compensation of {step.Name} failed after {step.CompensationAttempts} attempt(s): {m.Reason}");
        }

        public void OnTick()
        {
            if (instance.State.IsTerminal() || instance.State == SagaState.Paused)
            {
                return;
            }

            if (instance.State == SagaState.Running && instance.DeadlineAt is { } deadline && deadline <= now && !PivotPassed())
            {
                BeginCompensation($"the saga deadline {deadline:O} passed", CompensationTriggers.Deadline);
                return;
            }

            // Steps that give up fire first: once the rollback has begun, the others are not sent again.
            foreach (var givesUp in new[] { true, false })
            {
                for (var i = 0; i < instance.Steps.Count; i++)
                {
                    var step = instance.Steps[i];
                    if (step.DueAt is not { } due || due > now)
                    {
                        continue;
                    }

                    var final = step.Status == StepStatus.Running && !CanRetry(definition.Steps[i], step);
                    if (final != givesUp)
                    {
                        continue;
                    }

                    FireStepTimer(definition.Steps[i], step);
                    if (instance.State.IsTerminal())
                    {
                        return;
                    }
                }
            }
        }

        private void FireStepTimer(StepDefinition def, StepState step)
        {
            switch (step.Status)
            {
                case StepStatus.Running when instance.State == SagaState.Running:
                    Record(HistoryTypes.StepTimedOut, step.Name, step.Attempts, $"no reply within {def.Timeout}");
                    step.LastError = $"timed out after {def.Timeout}";
                    if (CanRetry(def, step))
                    {
                        SendAction(def, step, step.Attempts + 1);
                    }
                    else
                    {
                        GiveUp(step, $"step {step.Name} timed out {step.Attempts} time(s)");
                    }

                    break;
                case StepStatus.RetryScheduled when instance.State == SagaState.Running:
                    SendAction(def, step, step.Attempts + 1);
                    break;
                case StepStatus.Running when instance.State == SagaState.Compensating:
                    // The rollback waited for this branch long enough: it may have run, so it is compensated.
                    Record(HistoryTypes.StepTimedOut, step.Name, step.Attempts, $"no reply within {def.Timeout}; not retried during rollback");
                    step.Status = StepStatus.TimedOut;
                    step.DueAt = null;
                    step.FinishedAt = now;
                    CompensateNext();
                    break;
                case StepStatus.Waiting when instance.State == SagaState.Running:
                    Record(HistoryTypes.WaitTimedOut, step.Name, null, $"signal '{def.WaitFor}' not received within {def.Timeout}");
                    step.Status = StepStatus.Failed;
                    step.DueAt = null;
                    step.FinishedAt = now;
                    step.LastError = $"signal '{def.WaitFor}' not received within {def.Timeout}";
                    BeginCompensation($"step {step.Name} waited {def.Timeout} for signal '{def.WaitFor}' in vain", CompensationTriggers.Timeout);
                    break;
                case StepStatus.Compensating:
                    Record(HistoryTypes.CompensationTimedOut, step.Name, step.CompensationAttempts, $"no reply within {CompensationTimeout(def)}");
                    step.LastError = $"compensation timed out after {CompensationTimeout(def)}";
                    if (step.CompensationAttempts < def.CompensationRetry.MaxAttempts)
                    {
                        SendCompensation(def, step, step.CompensationAttempts + 1);
                    }
                    else
                    {
                        FailCompensation(step, $"compensation of {step.Name} timed out {step.CompensationAttempts} time(s)");
                    }

                    break;
                case StepStatus.CompensationRetryScheduled:
                    SendCompensation(def, step, step.CompensationAttempts + 1);
                    break;
                default:
                    // A timer left over from a state that has moved on: clear it so it does not fire again.
                    step.DueAt = null;
                    break;
            }
        }

        private void RetryOrGiveUp(StepDefinition def, StepState step, TimeSpan? retryAfter, string giveUpReason)
        {
            if (!CanRetry(def, step))
            {
                GiveUp(step, giveUpReason);
                return;
            }

            var delay = def.Retry.DelayBefore(step.Attempts + 1);
            if (retryAfter is { } after && after > TimeSpan.Zero)
            {
                // The participant knows best when to try again (a rate limit, say), within the policy's ceiling.
                delay = after > def.Retry.MaxDelay ? def.Retry.MaxDelay : after;
            }

            step.Status = StepStatus.RetryScheduled;
            step.DueAt = now + delay;
            Record(HistoryTypes.StepRetryScheduled, step.Name, step.Attempts + 1, $"next attempt in {delay.TotalMilliseconds:0} ms");
        }

        private static bool CanRetry(StepDefinition def, StepState step) =>
            def.Kind == StepKind.Retriable || step.Attempts < def.Retry.MaxAttempts;

        /// <summary>The outcome is unknown: treat the step as one that may have run.</summary>
        private void GiveUp(StepState step, string reason)
        {
            step.Status = StepStatus.TimedOut;
            step.DueAt = null;
            step.FinishedAt = now;
            if (PivotPassed())
            {
                Finalize(SagaState.Failed, $"{reason} after the pivot, so the saga cannot be undone");
                return;
            }

            BeginCompensation(reason, CompensationTriggers.Timeout);
        }

        private void BeginCompensation(string reason, string trigger)
        {
            instance.State = SagaState.Compensating;
            instance.Reason = reason;
            instance.CompensationTrigger = trigger;
            var awaitRunning = trigger is CompensationTriggers.StepFailure or CompensationTriggers.Timeout;
            foreach (var step in instance.Steps)
            {
                if (step.Status == StepStatus.Waiting)
                {
                    // A wait has no effect: stop waiting, nothing to undo.
                    step.Status = StepStatus.Pending;
                    step.DueAt = null;
                    continue;
                }

                // A branch still running after another failed is awaited (reply or timeout) so only what ran is
                // undone; a cancel or deadline does not wait: whatever is out may have run and is compensated.
                if ((step.Status == StepStatus.Running && !awaitRunning) || step.Status == StepStatus.RetryScheduled)
                {
                    step.Status = StepStatus.TimedOut;
                    step.DueAt = null;
                    step.FinishedAt = now;
                }
            }

            Record(HistoryTypes.CompensationStarted, null, null, reason);
            CompensateNext();
        }

        /// <summary>
        /// Compensates what ran or may have run, in reverse order: the branches of a parallel group at once,
        /// single steps one at a time. Waits while any branch is still running or being compensated.
        /// </summary>
        private void CompensateNext()
        {
            if (instance.Steps.Exists(s => s.Status == StepStatus.Running))
            {
                return;
            }

            if (instance.Steps.Exists(s => s.Status == StepStatus.CompensationFailed))
            {
                // A compensation failed for good: stop the rollback here once nothing else is in flight.
                if (!AnyCompensationInFlight())
                {
                    Finalize(SagaState.Failed, instance.Reason);
                }

                return;
            }

            for (var i = instance.Steps.Count - 1; i >= 0; i--)
            {
                var (first, last) = GroupRange(i);
                var busy = false;
                for (var j = first; j <= last; j++)
                {
                    var step = instance.Steps[j];
                    var def = definition.Steps[j];
                    if (step.Status is StepStatus.Compensating or StepStatus.CompensationRetryScheduled)
                    {
                        busy = true;
                        continue;
                    }

                    if (step.Status is not (StepStatus.Succeeded or StepStatus.TimedOut))
                    {
                        continue;
                    }

                    if (string.IsNullOrEmpty(def.Compensation))
                    {
                        if (def.Kind != StepKind.Compensatable)
                        {
                            FailCompensation(step, $"step {step.Name} is a {def.Kind} step with no compensation and may have run");
                            return;
                        }

                        step.Status = StepStatus.Compensated;
                        step.CompensatedAt = now;
                        Record(HistoryTypes.StepCompensated, step.Name, null, def.IsWait ? "nothing to undo: a wait step" : "nothing to undo: the step has no compensation");
                        continue;
                    }

                    SendCompensation(def, step, 1);
                    busy = true;
                }

                if (busy)
                {
                    return;
                }

                i = first;
            }

            Finalize(instance.CompensationTrigger == CompensationTriggers.Cancel ? SagaState.Cancelled : SagaState.Compensated, instance.Reason);
        }

        private void ScheduleCompensationRetry(StepDefinition def, StepState step)
        {
            var delay = def.CompensationRetry.DelayBefore(step.CompensationAttempts + 1);
            step.Status = StepStatus.CompensationRetryScheduled;
            step.DueAt = now + delay;
            Record(HistoryTypes.CompensationRetryScheduled, step.Name, step.CompensationAttempts + 1, $"next attempt in {delay.TotalMilliseconds:0} ms");
        }

        private void FailCompensation(StepState step, string reason)
        {
            step.Status = StepStatus.CompensationFailed;
            step.DueAt = null;
            step.LastError = reason;
            instance.Reason = reason;

            // Sibling compensations still out are let finish, so their outcome is known before a person looks.
            if (!AnyCompensationInFlight())
            {
                Finalize(SagaState.Failed, reason);
            }
        }

        private bool AnyCompensationInFlight() =>
            instance.Steps.Exists(s => s.Status is StepStatus.Compensating or StepStatus.CompensationRetryScheduled);

        private void SendAction(StepDefinition def, StepState step, int attempt)
        {
            step.Status = StepStatus.Running;
            step.Attempts = attempt;
            step.StartedAt ??= now;
            step.DueAt = now + def.Timeout;
            _messages.Add(new OutgoingMessage(def.Participant, new ExecuteStep(
                instance.Id, instance.Definition, instance.Version, def.Name, def.Action, attempt, DataElement(def), step.DueAt)));
            Record(HistoryTypes.StepCommandSent, def.Name, attempt, $"{def.Action} -> {def.Participant}");
        }

        private void SendCompensation(StepDefinition def, StepState step, int attempt)
        {
            step.Status = StepStatus.Compensating;
            step.CompensationAttempts = attempt;
            step.CompensationStartedAt ??= now;
            step.DueAt = now + CompensationTimeout(def);
            _messages.Add(new OutgoingMessage(def.Participant, new CompensateStep(
                instance.Id, instance.Definition, instance.Version, def.Name, def.Compensation!, attempt, DataElement(def), step.DueAt)));
            Record(HistoryTypes.CompensationCommandSent, def.Name, attempt, $"{def.Compensation} -> {def.Participant}");
        }

        private void Finalize(SagaState state, string? reason)
        {
            instance.State = state;
            instance.Reason = reason;
            instance.CompletedAt = now;
            foreach (var step in instance.Steps)
            {
                step.DueAt = null;
            }

            switch (state)
            {
                case SagaState.Completed:
                    Record(HistoryTypes.SagaCompleted, null, null, null);
                    _messages.Add(new OutgoingMessage(null, new SagaCompleted(instance.Id, instance.Definition, instance.Version, now)));
                    break;
                case SagaState.Compensated:
                    Record(HistoryTypes.SagaCompensated, null, null, reason);
                    _messages.Add(new OutgoingMessage(null, new SagaCompensated(instance.Id, instance.Definition, instance.Version, reason ?? "", now)));
                    break;
                case SagaState.Cancelled:
                    Record(HistoryTypes.SagaCancelled, null, null, reason);
                    _messages.Add(new OutgoingMessage(null, new SagaCancelled(instance.Id, instance.Definition, instance.Version, reason ?? "", now)));
                    break;
                default:
                    Record(HistoryTypes.SagaFailed, null, null, reason);
                    _messages.Add(new OutgoingMessage(null, new SagaFailed(instance.Id, instance.Definition, instance.Version, reason ?? "", now)));
                    break;
            }
        }

        private void Ignore(string step, int attempt, string why) => Record(HistoryTypes.ReplyIgnored, step, attempt, why);

        private void OnHeartbeat(StepHeartbeat m)
        {
            var (def, step) = Find(m.Step);
            if (def is null || step is null || step.Status != StepStatus.Running || m.Attempt != step.Attempts ||
                instance.State is not (SagaState.Running or SagaState.Compensating))
            {
                Ignore(m.Step, m.Attempt, $"heartbeat while the step is {step?.Status.ToString() ?? "unknown"} and the saga {instance.State}");
                return;
            }

            var extend = m.ExtendBy is { } e && e > TimeSpan.Zero && e <= TimeSpan.FromDays(7) ? e : def.Timeout;
            step.DueAt = now + extend;
            Record(HistoryTypes.StepHeartbeat, step.Name, m.Attempt, $"still working; timeout moved {extend.TotalSeconds:0.###} s ahead");
        }

        /// <summary>A signal's payload merges into the saga data field by field.</summary>
        private void MergePayload(string? payload)
        {
            if (payload is null || JsonNode.Parse(payload) is not JsonObject fields)
            {
                return;
            }

            var data = JsonNode.Parse(instance.Data) as JsonObject ?? [];
            foreach (var (key, value) in fields.ToList())
            {
                fields.Remove(key);
                data[key] = value;
            }

            instance.Data = data.ToJsonString();
        }

        private bool PivotPassed()
        {
            for (var i = 0; i < definition.Steps.Count; i++)
            {
                if (definition.Steps[i].Kind == StepKind.Pivot && instance.Steps[i].Status == StepStatus.Succeeded)
                {
                    return true;
                }
            }

            return false;
        }

        private (StepDefinition? Definition, StepState? State) Find(string? name)
        {
            if (name is null)
            {
                return (null, null);
            }

            var index = definition.IndexOf(name);
            return index < 0 || index >= instance.Steps.Count ? (null, null) : (definition.Steps[index], instance.Steps[index]);
        }

        private static TimeSpan CompensationTimeout(StepDefinition def) => def.CompensationTimeout ?? def.Timeout;

        private void MergeOutput(string stepName, JsonElement? output)
        {
            if (output is not { } value || value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
            {
                return;
            }

            var data = JsonNode.Parse(instance.Data) as JsonObject ?? [];
            data[stepName] = JsonNode.Parse(value.GetRawText());
            instance.Data = data.ToJsonString();
        }

        /// <summary>The saga data for a step's command: all of it, or the fields the step declares.</summary>
        private JsonElement DataElement(StepDefinition def)
        {
            if (def.DataFields is { } fields)
            {
                var all = JsonNode.Parse(instance.Data) as JsonObject ?? [];
                var subset = new JsonObject();
                foreach (var field in fields)
                {
                    if (all.TryGetPropertyValue(field, out var value))
                    {
                        subset[field] = value?.DeepClone();
                    }
                }

                return JsonSerializer.SerializeToElement(subset);
            }

            using var document = JsonDocument.Parse(instance.Data);
            return document.RootElement.Clone();
        }

        private DateTimeOffset? NextWake()
        {
            // Paused sagas keep their step due times; they count again from the resume.
            if (instance.State.IsTerminal() || instance.State == SagaState.Paused)
            {
                return null;
            }

            // After the pivot the deadline no longer applies, so it must not keep waking the saga.
            DateTimeOffset? next = instance.State == SagaState.Running && !PivotPassed() ? instance.DeadlineAt : null;
            foreach (var step in instance.Steps)
            {
                if (step.DueAt is { } due && (next is null || due < next))
                {
                    next = due;
                }
            }

            return next;
        }
    }
}

/// <summary>What a start carries into the Engine, validated by the caller.</summary>
public sealed record StartRequest(Guid SagaId, string Data, string? BusinessKey = null, string? Tenant = null, TimeSpan? Deadline = null);

/// <summary>Why a saga rolled back; stable strings, part of the compensation audit API.</summary>
public static class CompensationTriggers
{
    public const string StepFailure = "StepFailure";
    public const string Timeout = "Timeout";
    public const string Cancel = "Cancel";
    public const string Deadline = "Deadline";
}
