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
            instance.DeadlineAt = now + d;
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
        switch (evt)
        {
            case SagaEvent.Tick:
                run.OnTick();
                break;
            case SagaEvent.Reply { Message: StepSucceeded m }:
                run.OnStepSucceeded(m);
                break;
            case SagaEvent.Reply { Message: StepFailed m }:
                run.OnStepFailed(m);
                break;
            case SagaEvent.Reply { Message: StepCompensated m }:
                run.OnStepCompensated(m);
                break;
            case SagaEvent.Reply { Message: CompensationFailed m }:
                run.OnCompensationFailed(m);
                break;
            default:
                throw new ArgumentException($"The engine does not handle {evt.GetType().Name}", nameof(evt));
        }

        return run.Finish();
    }

    /// <summary>The working state of one decision.</summary>
    private sealed class Run(SagaDefinition definition, SagaInstance instance, DateTimeOffset now)
    {
        private readonly List<OutgoingMessage> _messages = [];
        private readonly List<HistoryEntry> _history = [];

        public Decision Finish()
        {
            if (_history.Count > 0 || _messages.Count > 0)
            {
                instance.UpdatedAt = now;
                instance.ConcurrencyVersion++;
            }

            instance.NextWakeAt = NextWake();
            return new Decision(instance, _messages, _history);
        }

        public void Record(string type, string? step, int? attempt, string? detail)
        {
            instance.HistorySequence++;
            _history.Add(new HistoryEntry(instance.HistorySequence, now, type, step, attempt, detail, SystemActor));
        }

        /// <summary>Runs the next pending step, or completes the saga.</summary>
        public void Advance()
        {
            if (instance.State != SagaState.Running)
            {
                return;
            }

            for (var i = 0; i < instance.Steps.Count; i++)
            {
                var step = instance.Steps[i];
                if (step.Status == StepStatus.Succeeded)
                {
                    continue;
                }

                if (step.Status == StepStatus.Pending)
                {
                    SendAction(definition.Steps[i], step, 1);
                }

                return;
            }

            Finalize(SagaState.Completed, null);
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
                Finalize(SagaState.Failed, $"step {step.Name} failed after the pivot, so the saga cannot be undone: {m.Reason}");
                return;
            }

            BeginCompensation($"step {step.Name} failed: {m.Reason}");
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
                BeginCompensation($"the saga deadline {deadline:O} passed");
                return;
            }

            for (var i = 0; i < instance.Steps.Count; i++)
            {
                var step = instance.Steps[i];
                if (step.DueAt is not { } due || due > now)
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

            BeginCompensation(reason);
        }

        private void BeginCompensation(string reason)
        {
            instance.State = SagaState.Compensating;
            instance.Reason = reason;
            foreach (var step in instance.Steps)
            {
                // A command still out may yet run: count it as timed out so it is compensated.
                if (step.Status is StepStatus.Running or StepStatus.RetryScheduled)
                {
                    step.Status = StepStatus.TimedOut;
                    step.DueAt = null;
                    step.FinishedAt = now;
                }
            }

            Record(HistoryTypes.CompensationStarted, null, null, reason);
            CompensateNext();
        }

        /// <summary>Compensates the last step that ran or may have run, one at a time in reverse order.</summary>
        private void CompensateNext()
        {
            for (var i = instance.Steps.Count - 1; i >= 0; i--)
            {
                var step = instance.Steps[i];
                var def = definition.Steps[i];
                if (step.Status is StepStatus.Compensating or StepStatus.CompensationRetryScheduled)
                {
                    return;
                }

                if (step.Status is not (StepStatus.Succeeded or StepStatus.TimedOut))
                {
                    continue;
                }

                if (string.IsNullOrEmpty(def.Compensation))
                {
                    if (def.Kind == StepKind.Compensatable)
                    {
                        step.Status = StepStatus.Compensated;
                        step.CompensatedAt = now;
                        Record(HistoryTypes.StepCompensated, step.Name, null, "nothing to undo: the step has no compensation");
                        continue;
                    }

                    FailCompensation(step, $"step {step.Name} is a {def.Kind} step with no compensation and may have run");
                    return;
                }

                SendCompensation(def, step, 1);
                return;
            }

            Finalize(SagaState.Compensated, instance.Reason);
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
            Finalize(SagaState.Failed, reason);
        }

        private void SendAction(StepDefinition def, StepState step, int attempt)
        {
            step.Status = StepStatus.Running;
            step.Attempts = attempt;
            step.StartedAt ??= now;
            step.DueAt = now + def.Timeout;
            _messages.Add(new OutgoingMessage(def.Participant, new ExecuteStep(
                instance.Id, instance.Definition, instance.Version, def.Name, def.Action, attempt, DataElement())));
            Record(HistoryTypes.StepCommandSent, def.Name, attempt, $"{def.Action} -> {def.Participant}");
        }

        private void SendCompensation(StepDefinition def, StepState step, int attempt)
        {
            step.Status = StepStatus.Compensating;
            step.CompensationAttempts = attempt;
            step.DueAt = now + CompensationTimeout(def);
            _messages.Add(new OutgoingMessage(def.Participant, new CompensateStep(
                instance.Id, instance.Definition, instance.Version, def.Name, def.Compensation!, attempt, DataElement())));
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
                default:
                    Record(HistoryTypes.SagaFailed, null, null, reason);
                    _messages.Add(new OutgoingMessage(null, new SagaFailed(instance.Id, instance.Definition, instance.Version, reason ?? "", now)));
                    break;
            }
        }

        private void Ignore(string step, int attempt, string why) => Record(HistoryTypes.ReplyIgnored, step, attempt, why);

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

        private JsonElement DataElement()
        {
            using var document = JsonDocument.Parse(instance.Data);
            return document.RootElement.Clone();
        }

        private DateTimeOffset? NextWake()
        {
            if (instance.State.IsTerminal())
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
