using Sagas.Coordinator.Engine;

namespace Sagas.Tests.Unit.Engine;

/// <summary>Operator actions in the Engine: what each does from the states it fits, and that it changes nothing elsewhere.</summary>
public sealed class OperatorEngineTests
{
    private const string Ops = "alice";

    [Fact]
    public void Cancel_RunningAtStepB_CompensatesBThenAAndEndsCancelled()
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps());
        d.Succeed("a");

        var cancel = Operate(d, new OperatorCommand.Cancel(Ops, "customer asked"));

        Assert.Null(cancel.Rejection);
        Assert.Equal(SagaState.Compensating, d.Instance.State);
        Assert.Equal(CompensationTriggers.Cancel, d.Instance.CompensationTrigger);
        Assert.Equal(["comp:b#1"], cancel.Messages.Describe());
        var audit = Assert.Single(cancel.History, h => h.Type == HistoryTypes.CancelRequested);
        Assert.Equal((Ops, "customer asked"), (audit.Actor, audit.Detail));

        Assert.Equal(["comp:a#1"], d.Compensated("b").Messages.Describe());
        var last = d.Compensated("a");
        Assert.Equal(SagaState.Cancelled, d.Instance.State);
        Assert.Equal(["SagaCancelled"], last.Messages.Describe());
    }

    [Theory]
    [InlineData("completed")]
    [InlineData("compensating")]
    [InlineData("failed")]
    public void Cancel_NotRunning_RejectedAndNothingChanges(string where)
    {
        var d = DriveTo(where);
        var before = d.Instance;

        var decision = Operate(d, new OperatorCommand.Cancel(Ops, "try"));

        Assert.NotNull(decision.Rejection);
        Assert.Empty(decision.History);
        Assert.Empty(decision.Messages);
        Assert.Equal(before.State, decision.Instance.State);
        Assert.Equal(before.ConcurrencyVersion, decision.Instance.ConcurrencyVersion);
    }

    [Fact]
    public void Pause_Running_RepliesDeferredNoCommandsNoTimersUntilResume()
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps());
        Operate(d, new OperatorCommand.Pause(Ops, "look first"));
        Assert.Equal(SagaState.Paused, d.Instance.State);
        Assert.Null(d.Instance.NextWakeAt);

        var reply = d.Succeed("a");
        Assert.Empty(reply.Messages);
        Assert.Equal([HistoryTypes.ReplyDeferred], reply.History.Select(h => h.Type));
        d.Advance(TimeSpan.FromMinutes(5));
        Assert.False(d.Tick().Changed);

        var resume = Operate(d, new OperatorCommand.Resume(Ops, "ok"));
        Assert.Equal(SagaState.Running, d.Instance.State);
        Assert.Equal(StepStatus.Succeeded, d.Step("a").Status);
        Assert.Equal(["exec:b#1"], resume.Messages.Describe());
        Assert.Empty(d.Instance.Deferred);
    }

    [Fact]
    public void Pause_Compensating_ResumeContinuesRollback()
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps());
        d.Succeed("a");
        d.Fail("b");
        Operate(d, new OperatorCommand.Pause(Ops, "hold the refund"));
        Assert.Equal(SagaState.Compensating, d.Instance.PausedFrom);
        d.Compensated("a");
        Assert.Equal(SagaState.Paused, d.Instance.State);

        Operate(d, new OperatorCommand.Resume(Ops, "go"));

        Assert.Equal(SagaState.Compensated, d.Instance.State);
    }

    [Fact]
    public void Retry_FailedCompensation_SendsOneMoreAttemptAndFailsAgainIfItFails()
    {
        var d = DriveTo("failed");
        var retry = Operate(d, new OperatorCommand.Retry(Ops, "bank back", null));
        Assert.Equal(SagaState.Compensating, d.Instance.State);
        Assert.Equal(["comp:a#2"], retry.Messages.Describe());

        d.CompensationFailed("a", attempt: 2, retryable: true);
        Assert.Equal(SagaState.Failed, d.Instance.State);
    }

    [Fact]
    public void Retry_ScheduledRetry_SendsNowWithoutWaitingForBackoff()
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps());
        d.Fail("a", retryable: true);
        Assert.Equal(StepStatus.RetryScheduled, d.Step("a").Status);

        var retry = Operate(d, new OperatorCommand.Retry(Ops, "now please", "a"));

        Assert.Equal(["exec:a#2"], retry.Messages.Describe());
    }

    [Fact]
    public void Skip_FailedCompensation_MarksSkippedAndFinishesCompensated()
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps());
        d.Succeed("a");
        d.Succeed("b");
        d.Fail("c");
        d.CompensationFailed("b");
        Assert.Equal(SagaState.Failed, d.Instance.State);

        var skip = Operate(d, new OperatorCommand.SkipCompensation(Ops, "done by hand", "b"));

        Assert.Equal(StepStatus.CompensationSkipped, d.Step("b").Status);
        Assert.Equal(["comp:a#1"], skip.Messages.Describe());
        d.Compensated("a");
        Assert.Equal(SagaState.Compensated, d.Instance.State);
        Assert.NotNull(Operate(d, new OperatorCommand.SkipCompensation(Ops, "again", "b")).Rejection);
    }

    [Fact]
    public void Signal_NobodyWaiting_RecordedWithNote()
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps());

        var decision = Operate(d, new OperatorCommand.Signal(Ops, "", "packed", """{"box":3}"""));

        Assert.NotNull(decision.Note);
        var signal = Assert.Single(d.Instance.Signals);
        Assert.Equal(("packed", false), (signal.Name, signal.Consumed));
        Assert.Contains(decision.History, h => h.Type == HistoryTypes.SignalReceived && h.Actor == Ops);
    }

    [Fact]
    public void ChangeDeadline_IntoThePast_NextTickCompensatesWithDeadlineTrigger()
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps());
        d.Succeed("a");

        Operate(d, new OperatorCommand.ChangeDeadline(Ops, "expired", d.Now.AddSeconds(-1)));
        Assert.Equal(d.Now.AddSeconds(-1), d.Instance.NextWakeAt);
        var tick = d.Tick();

        Assert.Equal(CompensationTriggers.Deadline, d.Instance.CompensationTrigger);
        Assert.Equal(["comp:b#1"], tick.Messages.Describe());
    }

    private static Decision Operate(SagaDriver d, OperatorCommand command) => d.Apply(new SagaEvent.Operator(command));

    private static SagaDriver DriveTo(string where)
    {
        var d = SagaDriver.Start(TestDefinitions.ThreeSteps(compensationAttempts: 1));
        switch (where)
        {
            case "completed":
                d.Succeed("a");
                d.Succeed("b");
                d.Succeed("c");
                break;
            case "compensating":
                d.Succeed("a");
                d.Fail("b");
                break;
            case "failed":
                d.Succeed("a");
                d.Fail("b");
                d.CompensationFailed("a");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(where));
        }

        return d;
    }
}
