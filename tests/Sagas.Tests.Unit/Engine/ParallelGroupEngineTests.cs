using System.Text.Json;
using Sagas.Contracts;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Tests.Unit.Engine;

/// <summary>Parallel groups: fan-out, fan-in, and how a rollback waits for, then undoes, the branches.</summary>
public sealed class ParallelGroupEngineTests
{
    private const string Ops = "alice";
    private static readonly DateTimeOffset T0 = SagaDriver.T0;

    [Fact]
    public void Handle_FirstStepSucceedsBeforeGroup_SendsEveryBranchCommandInOneDecision()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Advance(TimeSpan.FromSeconds(1));

        var decision = saga.Succeed("a");

        Assert.Equal(["exec:b#1", "exec:c#1", "exec:d#1"], decision.Messages.Describe());
        Assert.Equal(["pb", "pc", "pd"], decision.Messages.Select(m => m.Queue));
        Assert.Equal(
            [HistoryTypes.StepSucceeded, HistoryTypes.StepCommandSent, HistoryTypes.StepCommandSent, HistoryTypes.StepCommandSent],
            decision.History.Select(h => h.Type));
        Assert.Equal(["a", "b", "c", "d"], decision.History.Select(h => h.Step));
        Assert.All(["b", "c", "d"], n => Assert.Equal(StepStatus.Running, saga.Step(n).Status));
        Assert.All(["b", "c", "d"], n => Assert.Equal(T0 + TimeSpan.FromSeconds(11), saga.Step(n).DueAt));
        Assert.Equal(StepStatus.Pending, saga.Step("e").Status);
        Assert.Equal(T0 + TimeSpan.FromSeconds(11), saga.Instance.NextWakeAt);
    }

    [Theory]
    [InlineData("b", "c", "d")]
    [InlineData("d", "c", "b")]
    [InlineData("c", "d", "b")]
    [InlineData("d", "b", "c")]
    public void Handle_BranchesSucceedInAnyOrder_NextStepStartsOnlyAfterTheLast(string first, string second, string third)
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");

        var one = saga.Succeed(first);
        var two = saga.Succeed(second);

        Assert.Empty(one.Messages);
        Assert.Empty(two.Messages);
        Assert.Equal([HistoryTypes.StepSucceeded], one.History.Select(h => h.Type));
        Assert.Equal([HistoryTypes.StepSucceeded], two.History.Select(h => h.Type));
        Assert.Equal(StepStatus.Pending, saga.Step("e").Status);
        Assert.Equal(StepStatus.Running, saga.Step(third).Status);

        var three = saga.Succeed(third);

        Assert.Equal(["exec:e#1"], three.Messages.Describe());
        Assert.Equal(["exec:a#1", "exec:b#1", "exec:c#1", "exec:d#1", "exec:e#1"], saga.AllMessages.Describe());
        saga.Succeed("e");
        Assert.Equal(SagaState.Completed, saga.Instance.State);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is CompensateStep);
    }

    [Fact]
    public void Handle_BranchTimesOutAndRetries_OtherBranchesUntouchedAndFanInWaits()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("b");

        var tick = saga.TickAt(T0 + TimeSpan.FromSeconds(10));

        Assert.Equal(["exec:c#2", "exec:d#2"], tick.Messages.Describe());
        Assert.Equal(StepStatus.Succeeded, saga.Step("b").Status);
        Assert.Equal(1, saga.Step("b").Attempts);
        Assert.Empty(saga.Succeed("c", attempt: 1).Messages);
        Assert.Equal(["exec:e#1"], saga.Succeed("d", attempt: 2).Messages.Describe());
    }

    [Fact]
    public void Handle_BranchBusinessFailureWhileOthersRun_SendsNoCompensationUntilTheyReply()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("b");

        var failed = saga.Fail("c", reason: "no stock");

        Assert.Empty(failed.Messages);
        Assert.Equal([HistoryTypes.StepFailed, HistoryTypes.CompensationStarted], failed.History.Select(h => h.Type));
        Assert.Equal(SagaState.Compensating, saga.Instance.State);
        Assert.Equal(CompensationTriggers.StepFailure, saga.Instance.CompensationTrigger);
        Assert.Equal(StepStatus.Running, saga.Step("d").Status);
        Assert.Equal(StepStatus.Succeeded, saga.Step("b").Status);
        Assert.Equal(T0 + TimeSpan.FromSeconds(10), saga.Instance.NextWakeAt);

        var late = saga.Succeed("d");

        // d ran after all: it joins the rollback; b and d are undone together; c (business failure) never.
        Assert.Equal(["comp:b#1", "comp:d#1"], late.Messages.Describe());
        Assert.Equal(["pb", "pd"], late.Messages.Select(m => m.Queue));
        Assert.Equal(
            [HistoryTypes.StepSucceeded, HistoryTypes.CompensationCommandSent, HistoryTypes.CompensationCommandSent],
            late.History.Select(h => h.Type));
        Assert.Equal("after the rollback began; it will be compensated", late.History[0].Detail);
        Assert.Equal(StepStatus.Failed, saga.Step("c").Status);

        Assert.Empty(saga.Compensated("d").Messages);
        Assert.Equal(["comp:a#1"], saga.Compensated("b").Messages.Describe());
        Assert.Equal(["compensated"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(SagaState.Compensated, saga.Instance.State);
        Assert.Equal(
            ["exec:a#1", "exec:b#1", "exec:c#1", "exec:d#1", "comp:b#1", "comp:d#1", "comp:a#1", "compensated"],
            saga.AllMessages.Describe());
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is CompensateStep { Step: "c" });
        Assert.Equal(StepStatus.Pending, saga.Step("e").Status);
    }

    [Fact]
    public void Tick_AwaitedBranchTimesOutDuringRollback_CompensatedNotRetried()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("b");
        saga.Advance(TimeSpan.FromSeconds(2));
        saga.Fail("c");

        Assert.False(saga.TickAt(T0 + TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(1)).Changed);
        var tick = saga.TickAt(T0 + TimeSpan.FromSeconds(10));

        Assert.Equal(["comp:b#1", "comp:d#1"], tick.Messages.Describe());
        Assert.Equal(
            [HistoryTypes.StepTimedOut, HistoryTypes.CompensationCommandSent, HistoryTypes.CompensationCommandSent],
            tick.History.Select(h => h.Type));
        Assert.Equal("d", tick.History[0].Step);
        Assert.Equal(StepStatus.Compensating, saga.Step("d").Status);
        Assert.Equal(1, saga.Step("d").Attempts);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is ExecuteStep { Step: "d", Attempt: 2 });
    }

    [Fact]
    public void Handle_AwaitedBranchAlsoFailsBusiness_OnlySucceededBranchCompensated()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Fail("b");
        Assert.Empty(saga.Succeed("c").Messages);

        var decision = saga.Fail("d", reason: "also no");

        Assert.Equal(["comp:c#1"], decision.Messages.Describe());
        Assert.Equal(StepStatus.Failed, saga.Step("b").Status);
        Assert.Equal(StepStatus.Failed, saga.Step("d").Status);
        saga.Compensated("c");
        saga.Compensated("a");
        Assert.Equal(SagaState.Compensated, saga.Instance.State);
        Assert.Equal(["comp:c#1", "comp:a#1"], saga.AllMessages.Where(m => m.Message is CompensateStep).Describe());
    }

    [Fact]
    public void Handle_AwaitedBranchFailsRetryable_TreatedAsMayHaveRunAndCompensated()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Fail("b");
        saga.Succeed("c");

        var decision = saga.Fail("d", retryable: true, reason: "busy");

        Assert.Equal(["comp:c#1", "comp:d#1"], decision.Messages.Describe());
        Assert.Equal("retryable, not retried during rollback: busy", decision.History[0].Detail);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is ExecuteStep { Attempt: 2 });
    }

    [Fact]
    public void Handle_LastStepFailsAfterGroup_GroupCompensatedInParallelThenEarlierStep()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("c");
        saga.Succeed("b");
        saga.Succeed("d");

        var failed = saga.Fail("e");

        Assert.Equal(["comp:b#1", "comp:c#1", "comp:d#1"], failed.Messages.Describe());
        Assert.All(["b", "c", "d"], n => Assert.Equal(StepStatus.Compensating, saga.Step(n).Status));
        Assert.Equal(StepStatus.Succeeded, saga.Step("a").Status);
        Assert.Empty(saga.Compensated("c").Messages);
        Assert.Empty(saga.Compensated("b").Messages);
        Assert.Equal(["comp:a#1"], saga.Compensated("d").Messages.Describe());
        Assert.Equal(["compensated"], saga.Compensated("a").Messages.Describe());
    }

    [Fact]
    public void Handle_BranchCompensationRetriedWhileSiblingDone_EarlierStepWaitsForWholeGroup()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("b");
        saga.Succeed("c");
        saga.Succeed("d");
        saga.Fail("e");
        saga.Compensated("b");
        saga.Compensated("d");

        var retry = saga.CompensationFailed("c", retryable: true);

        Assert.Empty(retry.Messages);
        Assert.Equal(StepStatus.CompensationRetryScheduled, saga.Step("c").Status);
        Assert.Equal(["comp:c#2"], saga.TickAt(saga.Step("c").DueAt!.Value).Messages.Describe());
        Assert.Equal(["comp:a#1"], saga.Compensated("c", attempt: 2).Messages.Describe());
    }

    [Fact]
    public void Handle_GroupFollowedByGroup_FansOutTwiceAndRollsBackGroupByGroup()
    {
        var saga = SagaDriver.Start(GroupDefinitions.TwoGroups());

        Assert.Equal(["exec:b#1", "exec:c#1"], saga.Succeed("a").Messages.Describe());
        Assert.Empty(saga.Succeed("c").Messages);
        Assert.Equal(["exec:d#1", "exec:e#1"], saga.Succeed("b").Messages.Describe());
        Assert.Empty(saga.Succeed("e").Messages);
        Assert.Equal(["exec:f#1"], saga.Succeed("d").Messages.Describe());

        Assert.Equal(["comp:d#1", "comp:e#1"], saga.Fail("f").Messages.Describe());
        Assert.Empty(saga.Compensated("e").Messages);
        Assert.Equal(["comp:b#1", "comp:c#1"], saga.Compensated("d").Messages.Describe());
        Assert.Empty(saga.Compensated("b").Messages);
        Assert.Equal(["comp:a#1"], saga.Compensated("c").Messages.Describe());
        Assert.Equal(["compensated"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(
            ["exec:a#1", "exec:b#1", "exec:c#1", "exec:d#1", "exec:e#1", "exec:f#1", "comp:d#1", "comp:e#1", "comp:b#1", "comp:c#1", "comp:a#1", "compensated"],
            saga.AllMessages.Describe());
    }

    [Fact]
    public void Handle_GroupFollowedByGroupAllSucceed_Completes()
    {
        var saga = SagaDriver.Start(GroupDefinitions.TwoGroups());
        foreach (var step in new[] { "a", "c", "b", "d", "e", "f" })
        {
            saga.Succeed(step);
        }

        Assert.Equal(SagaState.Completed, saga.Instance.State);
        Assert.Equal(["completed"], saga.Last.Messages.Describe());
    }

    [Fact]
    public void Cancel_DuringGroup_RunningBranchesCompensatedAtOnceAlongsideSucceededOnes()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("c");

        var cancel = saga.Apply(new SagaEvent.Operator(new OperatorCommand.Cancel(Ops, "customer asked")));

        Assert.Null(cancel.Rejection);
        Assert.Equal(["comp:b#1", "comp:c#1", "comp:d#1"], cancel.Messages.Describe());
        Assert.Equal(
            [HistoryTypes.CancelRequested, HistoryTypes.CompensationStarted, HistoryTypes.CompensationCommandSent,
                HistoryTypes.CompensationCommandSent, HistoryTypes.CompensationCommandSent],
            cancel.History.Select(h => h.Type));
        Assert.Equal(CompensationTriggers.Cancel, saga.Instance.CompensationTrigger);
        Assert.Equal(T0, saga.Step("b").FinishedAt);

        // A late success of a branch the cancel gave up on changes nothing: its compensation is already out.
        var late = saga.Succeed("b");
        Assert.Empty(late.Messages);
        Assert.Equal([HistoryTypes.ReplyIgnored], late.History.Select(h => h.Type));
        Assert.Equal(StepStatus.Compensating, saga.Step("b").Status);

        saga.Compensated("b");
        saga.Compensated("d");
        Assert.Equal(["comp:a#1"], saga.Compensated("c").Messages.Describe());
        Assert.Equal(["SagaCancelled"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(SagaState.Cancelled, saga.Instance.State);
    }

    [Fact]
    public void Tick_DeadlineDuringGroup_RunningBranchesCompensatedAtOnce()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut(), deadline: TimeSpan.FromSeconds(5));
        saga.Succeed("a");
        saga.Succeed("d");

        var tick = saga.TickAt(T0 + TimeSpan.FromSeconds(5));

        Assert.Equal(["comp:b#1", "comp:c#1", "comp:d#1"], tick.Messages.Describe());
        Assert.Equal(CompensationTriggers.Deadline, saga.Instance.CompensationTrigger);
        Assert.All(["b", "c"], n => Assert.Equal(T0 + TimeSpan.FromSeconds(5), saga.Step(n).FinishedAt));
    }

    [Fact]
    public void Handle_BranchRetriesExhaustedWhileSiblingRuns_RollbackWaitsForSibling()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut(maxAttempts: 1));
        saga.Succeed("a");

        var giveUp = saga.Fail("b", retryable: true);

        Assert.Empty(giveUp.Messages);
        Assert.Equal(CompensationTriggers.Timeout, saga.Instance.CompensationTrigger);
        Assert.Equal(StepStatus.TimedOut, saga.Step("b").Status);
        Assert.Equal(StepStatus.Running, saga.Step("c").Status);
        saga.Fail("c");
        Assert.Equal(["comp:b#1", "comp:d#1"], saga.Succeed("d").Messages.Describe());
    }

    [Fact]
    public void Heartbeat_AwaitedBranchDuringRollback_PushesItsTimeout()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("b");
        saga.Fail("c");
        saga.Advance(TimeSpan.FromSeconds(9));

        var beat = saga.Apply(SagaEvent.From(new StepHeartbeat(saga.SagaId, "d", 1, TimeSpan.FromMinutes(1))));

        Assert.Equal([HistoryTypes.StepHeartbeat], beat.History.Select(h => h.Type));
        Assert.Equal(T0 + TimeSpan.FromSeconds(69), saga.Step("d").DueAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(69), saga.Instance.NextWakeAt);
        Assert.False(saga.TickAt(T0 + TimeSpan.FromSeconds(10)).Changed);
        Assert.Equal(["comp:b#1", "comp:d#1"], saga.TickAt(T0 + TimeSpan.FromSeconds(69)).Messages.Describe());
    }

    [Fact]
    public void Pause_WhileRollbackAwaitsBranch_ReplyDeferredThenAppliedOnResume()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Succeed("a");
        saga.Succeed("b");
        saga.Fail("c");
        saga.Apply(new SagaEvent.Operator(new OperatorCommand.Pause(Ops, "look")));

        var deferred = saga.Succeed("d");
        Assert.Empty(deferred.Messages);
        Assert.Equal([HistoryTypes.ReplyDeferred], deferred.History.Select(h => h.Type));
        Assert.Equal(StepStatus.Running, saga.Step("d").Status);

        var resume = saga.Apply(new SagaEvent.Operator(new OperatorCommand.Resume(Ops, "go")));

        Assert.Equal(["comp:b#1", "comp:d#1"], resume.Messages.Describe());
        Assert.Equal(SagaState.Compensating, saga.Instance.State);
    }

    /// <summary>
    /// Was a bug: a final compensation failure of one branch failed the saga while a sibling's compensation was still out.
    /// The sibling keeps status Compensating with its timer cleared; after the operator skips the failed branch
    /// the saga is Compensating again but nothing can ever wake it (the sibling's reply was dropped while Failed).
    /// </summary>
    [Fact]
    public void Skip_FailedBranchCompensationWhileSiblingWasInFlight_SagaCanStillFinish()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut(compensationAttempts: 1));
        saga.Succeed("a");
        saga.Succeed("b");
        saga.Succeed("c");
        saga.Succeed("d");
        saga.Fail("e");
        saga.Compensated("d");
        saga.CompensationFailed("b", reason: "cannot refund");

        // The rollback stops at b, but only once c's compensation (still out) has answered.
        Assert.Equal(SagaState.Compensating, saga.Instance.State);
        Assert.Equal(StepStatus.Compensating, saga.Step("c").Status);
        Assert.NotNull(saga.Instance.NextWakeAt);
        saga.Compensated("c");
        Assert.Equal(SagaState.Failed, saga.Instance.State);
        Assert.Equal(StepStatus.Compensated, saga.Step("c").Status);

        saga.Apply(new SagaEvent.Operator(new OperatorCommand.SkipCompensation(Ops, "refunded by hand", "b")));

        // Either c's compensation counts, the saga moved on to a; or at the very least something must wake the saga.
        Assert.True(
            saga.Instance.State.IsTerminal() || saga.Instance.NextWakeAt is not null || saga.Last.Messages.Count > 0,
            $"saga stuck: {saga.Instance.State}, c {saga.Step("c").Status}, no timer, no message");
    }

    /// <summary>
    /// BUG: a business failure of a retriable branch after the pivot fails the saga while a sibling branch is still
    /// Running; its timer is cleared and its reply is dropped. An operator retry of the failed branch then leaves the
    /// sibling Running with no timer: the saga can never complete nor time out.
    /// </summary>
    [Fact]
    public void Retry_FailedRetriableBranchAfterPivotWhileSiblingWasRunning_SagaCanStillComplete()
    {
        var definition = SagaDefinitionBuilder.Create("pivot-group", 1)
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a").Timeout(TimeSpan.FromSeconds(10)))
            .Step("p", s => s.On("pp").Action("do-p").Kind(StepKind.Pivot).Timeout(TimeSpan.FromSeconds(10)))
            .Step("r1", s => s.On("pr1").Action("do-r1").Kind(StepKind.Retriable).InGroup("tail").Timeout(TimeSpan.FromSeconds(10)))
            .Step("r2", s => s.On("pr2").Action("do-r2").Kind(StepKind.Retriable).InGroup("tail").Timeout(TimeSpan.FromSeconds(10)))
            .Build();
        var saga = SagaDriver.Start(definition);
        saga.Succeed("a");
        Assert.Equal(["exec:r1#1", "exec:r2#1"], saga.Succeed("p").Messages.Describe());
        saga.Fail("r1", reason: "address invalid");
        // Nothing can be undone after the pivot; the sibling still out is let finish before the saga is Failed.
        Assert.Equal(SagaState.Running, saga.Instance.State);
        saga.Succeed("r2");
        Assert.Equal(SagaState.Failed, saga.Instance.State);

        var retry = saga.Apply(new SagaEvent.Operator(new OperatorCommand.Retry(Ops, "address fixed", "r1")));
        Assert.Equal(["exec:r1#2"], retry.Messages.Describe());
        saga.Succeed("r1", attempt: 2);

        Assert.True(
            saga.Instance.State == SagaState.Completed || saga.Instance.NextWakeAt is not null,
            $"saga stuck: {saga.Instance.State}, r2 {saga.Step("r2").Status} with DueAt {saga.Step("r2").DueAt}");
    }

    /// <summary>
    /// BUG: two branches time out on the same tick; the one declared first still has attempts left and is re-sent,
    /// then the second gives up and starts the rollback. The decision sends an ExecuteStep while the saga goes
    /// Compensating, and the rollback then waits a whole timeout for the attempt it just started. Declared the other
    /// way round, the same situation compensates at once: the outcome depends on declaration order.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tick_BranchesTimeOutTogetherOneGivesUp_RollbackStartsWithoutResendingTheOther(bool giveUpFirst)
    {
        var retrying = (Name: "b", Max: 3);
        var givingUp = (Name: "c", Max: 1);
        var order = giveUpFirst ? new[] { givingUp, retrying } : [retrying, givingUp];
        var builder = SagaDefinitionBuilder.Create("same-tick", 1)
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a").Timeout(TimeSpan.FromSeconds(10)));
        foreach (var (name, max) in order)
        {
            builder.Step(name, s => s.On($"p{name}").Action($"do-{name}").Compensation($"undo-{name}").InGroup("g")
                .Timeout(TimeSpan.FromSeconds(10)).Retry(max, TimeSpan.FromMilliseconds(100)));
        }

        var saga = SagaDriver.Start(builder.Build());
        saga.Succeed("a");

        var tick = saga.TickAt(T0 + TimeSpan.FromSeconds(10));

        Assert.Equal(SagaState.Compensating, saga.Instance.State);
        Assert.DoesNotContain(tick.Messages, m => m.Message is ExecuteStep);
        Assert.Equal(
            giveUpFirst ? ["comp:c#1", "comp:b#1"] : ["comp:b#1", "comp:c#1"],
            tick.Messages.Describe());
    }

    /// <summary>
    /// BUG: cancelling a paused saga applies the replies deferred during the pause with the normal forward logic, so a
    /// deferred success starts the next step (ExecuteStep sent) and the same decision then compensates it: the
    /// participant receives "do" and "undo" for a step the operator had already cancelled.
    /// </summary>
    [Fact]
    public void Cancel_PausedSagaWithDeferredSuccess_DoesNotStartTheNextStepOnlyToUndoIt()
    {
        var saga = SagaDriver.Start(GroupDefinitions.FanOut());
        saga.Apply(new SagaEvent.Operator(new OperatorCommand.Pause(Ops, "look")));
        saga.Succeed("a");

        var cancel = saga.Apply(new SagaEvent.Operator(new OperatorCommand.Cancel(Ops, "stop")));

        Assert.Null(cancel.Rejection);
        Assert.DoesNotContain(cancel.Messages, m => m.Message is ExecuteStep);
        Assert.Equal(["comp:a#1"], cancel.Messages.Describe());
        Assert.All(["b", "c", "d", "e"], n => Assert.Equal(StepStatus.Pending, saga.Step(n).Status));
    }

    /// <summary>
    /// BUG: after the pivot a branch's business failure ends the saga Failed while a sibling is still Running; a
    /// heartbeat from that sibling is then accepted (OnHeartbeat checks only the step) and arms a timer on a terminal saga.
    /// </summary>
    [Fact]
    public void Heartbeat_SiblingOfBranchThatFailedTheSagaAfterPivot_IgnoredOnTerminalSaga()
    {
        var definition = SagaDefinitionBuilder.Create("pivot-group", 1)
            .Step("p", s => s.On("pp").Action("do-p").Kind(StepKind.Pivot))
            .Step("r1", s => s.On("pr1").Action("do-r1").Kind(StepKind.Retriable).InGroup("tail"))
            .Step("r2", s => s.On("pr2").Action("do-r2").Kind(StepKind.Retriable).InGroup("tail"))
            .Build();
        var saga = SagaDriver.Start(definition);
        saga.Succeed("p");
        saga.Fail("r1");
        saga.Succeed("r2");
        Assert.Equal(SagaState.Failed, saga.Instance.State);

        var beat = saga.Apply(SagaEvent.From(new StepHeartbeat(saga.SagaId, "r2", 1, TimeSpan.FromMinutes(1))));

        Assert.Equal([HistoryTypes.ReplyIgnored], beat.History.Select(h => h.Type));
        Assert.Null(saga.Step("r2").DueAt);
    }

    [Fact]
    public void Handle_RetriableGroupAfterPivot_CompletesWhenBothSucceed()
    {
        var definition = SagaDefinitionBuilder.Create("pivot-group", 1)
            .Step("p", s => s.On("pp").Action("do-p").Kind(StepKind.Pivot))
            .Step("r1", s => s.On("pr1").Action("do-r1").Kind(StepKind.Retriable).InGroup("tail"))
            .Step("r2", s => s.On("pr2").Action("do-r2").Kind(StepKind.Retriable).InGroup("tail"))
            .Build();
        var saga = SagaDriver.Start(definition);

        Assert.Equal(["exec:r1#1", "exec:r2#1"], saga.Succeed("p").Messages.Describe());
        saga.Fail("r2", retryable: true);
        saga.Succeed("r1");
        Assert.Equal(["exec:r2#2"], saga.TickAt(saga.Step("r2").DueAt!.Value).Messages.Describe());
        Assert.Equal(["completed"], saga.Succeed("r2", attempt: 2).Messages.Describe());
    }
}

internal static class GroupDefinitions
{
    /// <summary>a; group g = b, c, d; e. All compensatable, 10 s timeouts, 20 s compensation timeouts.</summary>
    public static SagaDefinition FanOut(int maxAttempts = 3, int compensationAttempts = 3) =>
        SagaDefinitionBuilder.Create("fan", 1)
            .Step("a", s => Step(s, "a", null, maxAttempts, compensationAttempts))
            .Step("b", s => Step(s, "b", "g", maxAttempts, compensationAttempts))
            .Step("c", s => Step(s, "c", "g", maxAttempts, compensationAttempts))
            .Step("d", s => Step(s, "d", "g", maxAttempts, compensationAttempts))
            .Step("e", s => Step(s, "e", null, maxAttempts, compensationAttempts))
            .Build();

    /// <summary>a; group g1 = b, c; group g2 = d, e; f.</summary>
    public static SagaDefinition TwoGroups() =>
        SagaDefinitionBuilder.Create("two-groups", 1)
            .Step("a", s => Step(s, "a", null, 3, 3))
            .Step("b", s => Step(s, "b", "g1", 3, 3))
            .Step("c", s => Step(s, "c", "g1", 3, 3))
            .Step("d", s => Step(s, "d", "g2", 3, 3))
            .Step("e", s => Step(s, "e", "g2", 3, 3))
            .Step("f", s => Step(s, "f", null, 3, 3))
            .Build();

    private static StepBuilder Step(StepBuilder s, string name, string? group, int maxAttempts, int compensationAttempts)
    {
        var b = s.On($"p{name}").Action($"do-{name}").Compensation($"undo-{name}")
            .Timeout(TimeSpan.FromSeconds(10))
            .CompensationTimeout(TimeSpan.FromSeconds(20))
            .Retry(maxAttempts, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5))
            .CompensationRetry(compensationAttempts, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4));
        return group is null ? b : b.InGroup(group);
    }
}
