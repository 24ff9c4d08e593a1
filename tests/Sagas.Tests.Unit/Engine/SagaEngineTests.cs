using System.Text.Json;
using Sagas.Contracts;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Tests.Unit.Engine;

public class SagaEngineTests
{
    private static readonly DateTimeOffset T0 = SagaDriver.T0;

    [Fact]
    public void Start_ThreeSteps_SendsFirstStepOnlyWithDataAndTimer()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        var start = saga.Last;
        var message = Assert.Single(start.Messages);
        Assert.Equal("pa", message.Queue);
        var execute = message.Execute();
        Assert.Equal(new ExecuteStep(saga.SagaId, "three", 1, "a", "do-a", 1, execute.Data, saga.Step("a").DueAt), execute);
        Assert.NotNull(execute.ExpiresAt);
        Assert.Equal("o-1", execute.Data.GetProperty("orderId").GetString());
        Assert.Equal([HistoryTypes.SagaStarted, HistoryTypes.StepCommandSent], start.History.Select(h => h.Type));
        Assert.Equal(SagaState.Running, saga.Instance.State);
        Assert.Equal(StepStatus.Running, saga.Step("a").Status);
        Assert.Equal(StepStatus.Pending, saga.Step("b").Status);
        Assert.Equal(T0 + TimeSpan.FromSeconds(10), saga.Step("a").DueAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(10), saga.Instance.NextWakeAt);
        Assert.Equal("bk-1", saga.Instance.BusinessKey);
        Assert.Equal("tenant-a", saga.Instance.Tenant);
        Assert.Equal(1, saga.Instance.ConcurrencyVersion);
    }

    [Fact]
    public void Handle_HappyPathOverThreeSteps_ExecutesEachInOrderThenPublishesCompleted()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        Assert.Equal(["exec:b#1"], saga.Succeed("a").Messages.Describe());
        Assert.Equal("pb", saga.Last.Messages[0].Queue);
        Assert.Equal(["exec:c#1"], saga.Succeed("b").Messages.Describe());
        Assert.Equal("pc", saga.Last.Messages[0].Queue);
        saga.Advance(TimeSpan.FromSeconds(3));
        var last = saga.Succeed("c");

        var published = Assert.Single(last.Messages);
        Assert.Null(published.Queue);
        Assert.Equal(new SagaCompleted(saga.SagaId, "three", 1, T0 + TimeSpan.FromSeconds(3)), published.Message);
        Assert.Equal(["exec:a#1", "exec:b#1", "exec:c#1", "completed"], saga.AllMessages.Describe());
        Assert.Equal(SagaState.Completed, saga.Instance.State);
        Assert.Null(saga.Instance.NextWakeAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(3), saga.Instance.CompletedAt);
        Assert.All(saga.Instance.Steps, s => Assert.Equal(StepStatus.Succeeded, s.Status));
        Assert.All(saga.Instance.Steps, s => Assert.Null(s.DueAt));
        Assert.Equal(HistoryTypes.SagaCompleted, last.History[^1].Type);
    }

    [Fact]
    public void Handle_BusinessFailureAtStep3_CompensatesStep2ThenStep1()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Succeed("a");
        saga.Succeed("b");

        var failed = saga.Fail("c", reason: "card declined");

        // One compensation at a time: only b's, and a's only after b reports back.
        var first = Assert.Single(failed.Messages);
        Assert.Equal("pb", first.Queue);
        Assert.Equal(new CompensateStep(saga.SagaId, "three", 1, "b", "undo-b", 1, first.Compensate().Data, saga.Step("b").DueAt), first.Message);
        Assert.NotNull(first.Compensate().ExpiresAt);
        Assert.Equal([HistoryTypes.StepFailed, HistoryTypes.CompensationStarted, HistoryTypes.CompensationCommandSent], failed.History.Select(h => h.Type));
        Assert.Equal(SagaState.Compensating, saga.Instance.State);
        Assert.Equal(StepStatus.Failed, saga.Step("c").Status);
        Assert.Equal(StepStatus.Compensating, saga.Step("b").Status);
        Assert.Equal(StepStatus.Succeeded, saga.Step("a").Status);

        Assert.Equal(["comp:a#1"], saga.Compensated("b").Messages.Describe());
        Assert.Equal("pa", saga.Last.Messages[0].Queue);
        var done = saga.Compensated("a");

        Assert.Equal(["compensated"], done.Messages.Describe());
        var compensated = Assert.IsType<SagaCompensated>(done.Messages[0].Message);
        Assert.Contains("card declined", compensated.Reason, StringComparison.Ordinal);
        Assert.Equal(SagaState.Compensated, saga.Instance.State);
        Assert.Null(saga.Instance.NextWakeAt);
        Assert.Equal(StepStatus.Compensated, saga.Step("a").Status);
        Assert.Equal(StepStatus.Compensated, saga.Step("b").Status);
        Assert.Equal(StepStatus.Failed, saga.Step("c").Status);
        Assert.Equal(["exec:a#1", "exec:b#1", "exec:c#1", "comp:b#1", "comp:a#1", "compensated"], saga.AllMessages.Describe());
    }

    [Fact]
    public void Handle_BusinessFailureAtStep1_CompensatedWithoutCompensationCommands()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        var decision = saga.Fail("a", reason: "out of stock");

        Assert.Equal(["compensated"], decision.Messages.Describe());
        Assert.Equal(SagaState.Compensated, saga.Instance.State);
        Assert.Equal(StepStatus.Failed, saga.Step("a").Status);
        Assert.Equal(StepStatus.Pending, saga.Step("b").Status);
        Assert.Equal(StepStatus.Pending, saga.Step("c").Status);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is CompensateStep);
        Assert.Contains("out of stock", saga.Instance.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Tick_StepTimedOutWithRetriesLeft_ResendsWithNextAttempt()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        var decision = saga.TickAt(T0 + TimeSpan.FromSeconds(10));

        Assert.Equal(["exec:a#2"], decision.Messages.Describe());
        Assert.Equal("pa", decision.Messages[0].Queue);
        Assert.Equal([HistoryTypes.StepTimedOut, HistoryTypes.StepCommandSent], decision.History.Select(h => h.Type));
        Assert.Equal([1, 2], decision.History.Select(h => h.Attempt ?? 0));
        Assert.Equal(StepStatus.Running, saga.Step("a").Status);
        Assert.Equal(2, saga.Step("a").Attempts);
        Assert.Equal(T0 + TimeSpan.FromSeconds(20), saga.Step("a").DueAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(20), saga.Instance.NextWakeAt);
        Assert.Equal(T0, saga.Step("a").StartedAt);
    }

    [Fact]
    public void Tick_StepTimedOutWithNoRetriesLeft_CompensatesItThenEarlierStepsInReverse()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps(maxAttempts: 1));
        saga.Succeed("a");
        saga.Succeed("b");

        var decision = saga.TickAt(T0 + TimeSpan.FromSeconds(10));

        // c may have run: it is compensated first, then b, then a.
        Assert.Equal(["comp:c#1"], decision.Messages.Describe());
        Assert.Equal(
            [HistoryTypes.StepTimedOut, HistoryTypes.CompensationStarted, HistoryTypes.CompensationCommandSent],
            decision.History.Select(h => h.Type));
        Assert.Equal(StepStatus.Compensating, saga.Step("c").Status);
        Assert.Equal(T0 + TimeSpan.FromSeconds(30), saga.Step("c").DueAt);
        Assert.Equal(["comp:b#1"], saga.Compensated("c").Messages.Describe());
        Assert.Equal(["comp:a#1"], saga.Compensated("b").Messages.Describe());
        Assert.Equal(["compensated"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(SagaState.Compensated, saga.Instance.State);
        Assert.All(saga.Instance.Steps, s => Assert.Equal(StepStatus.Compensated, s.Status));
    }

    [Fact]
    public void Tick_BeforeDueAt_ChangesNothing()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        var before = saga.Instance;

        var decision = saga.TickAt(T0 + TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(1));

        Assert.False(decision.Changed);
        Assert.Empty(decision.Messages);
        Assert.Empty(decision.History);
        Assert.Equal(before.ConcurrencyVersion, decision.Instance.ConcurrencyVersion);
        Assert.Equal(before.HistorySequence, decision.Instance.HistorySequence);
        Assert.Equal(before.UpdatedAt, decision.Instance.UpdatedAt);
        Assert.Equal(1, decision.Instance.Steps[0].Attempts);
        Assert.Equal(before.NextWakeAt, decision.Instance.NextWakeAt);
    }

    [Fact]
    public void Handle_RetryableFailure_SchedulesRetryAfterPolicyBackOff()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Advance(TimeSpan.FromSeconds(1));

        var first = saga.Fail("a", retryable: true, reason: "db busy");

        Assert.Empty(first.Messages);
        Assert.Equal([HistoryTypes.StepFailed, HistoryTypes.StepRetryScheduled], first.History.Select(h => h.Type));
        Assert.Equal(StepStatus.RetryScheduled, saga.Step("a").Status);
        var firstDue = T0 + TimeSpan.FromSeconds(1) + TimeSpan.FromMilliseconds(200);
        Assert.Equal(firstDue, saga.Step("a").DueAt);
        Assert.Equal(firstDue, saga.Instance.NextWakeAt);
        Assert.Equal("db busy", saga.Step("a").LastError);

        Assert.False(saga.TickAt(firstDue - TimeSpan.FromMilliseconds(1)).Changed);
        Assert.Equal(["exec:a#2"], saga.TickAt(firstDue).Messages.Describe());

        // The back-off grows by the multiplier: 200 ms, then 400 ms.
        saga.Fail("a", attempt: 2, retryable: true);
        Assert.Equal(firstDue + TimeSpan.FromMilliseconds(400), saga.Step("a").DueAt);
    }

    [Fact]
    public void Handle_RetryableFailureOnLastAttempt_GivesUpAndCompensatesTheStep()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps(maxAttempts: 2));
        saga.Succeed("a");
        saga.Fail("b", retryable: true);
        saga.TickAt(saga.Step("b").DueAt!.Value);

        var decision = saga.Fail("b", attempt: 2, retryable: true, reason: "still busy");

        Assert.Equal(["comp:b#1"], decision.Messages.Describe());
        Assert.Equal(SagaState.Compensating, saga.Instance.State);
        Assert.Contains("still busy", saga.Instance.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Handle_RetryAfterWithinMaxDelay_IsHonoured()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        saga.Fail("a", retryable: true, retryAfter: TimeSpan.FromSeconds(2));

        Assert.Equal(T0 + TimeSpan.FromSeconds(2), saga.Step("a").DueAt);
    }

    [Fact]
    public void Handle_RetryAfterBeyondMaxDelay_IsCappedByPolicy()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        saga.Fail("a", retryable: true, retryAfter: TimeSpan.FromMinutes(1));

        Assert.Equal(T0 + TimeSpan.FromSeconds(5), saga.Step("a").DueAt);
    }

    [Fact]
    public void Handle_SuccessFromOlderAttempt_IsAccepted()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.TickAt(T0 + TimeSpan.FromSeconds(10));
        Assert.Equal(2, saga.Step("a").Attempts);

        var decision = saga.Succeed("a", attempt: 1);

        Assert.Equal(["exec:b#1"], decision.Messages.Describe());
        Assert.Equal(StepStatus.Succeeded, saga.Step("a").Status);
        Assert.Null(saga.Step("a").DueAt);
        Assert.Equal(HistoryTypes.StepSucceeded, decision.History[0].Type);
        Assert.Equal(1, decision.History[0].Attempt);
    }

    [Fact]
    public void Handle_SuccessWhileRetryScheduled_IsAccepted()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.TickAt(T0 + TimeSpan.FromSeconds(10));
        saga.Fail("a", attempt: 2, retryable: true);

        var decision = saga.Succeed("a", attempt: 1);

        Assert.Equal(["exec:b#1"], decision.Messages.Describe());
        Assert.Equal(StepStatus.Succeeded, saga.Step("a").Status);
    }

    [Fact]
    public void Handle_FailureFromOlderAttempt_IsIgnored()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.TickAt(T0 + TimeSpan.FromSeconds(10));

        var decision = saga.Fail("a", attempt: 1, reason: "late failure of attempt 1");

        Assert.Empty(decision.Messages);
        var entry = Assert.Single(decision.History);
        Assert.Equal(HistoryTypes.ReplyIgnored, entry.Type);
        Assert.Equal("a", entry.Step);
        Assert.Equal(1, entry.Attempt);
        Assert.Equal(SagaState.Running, saga.Instance.State);
        Assert.Equal(StepStatus.Running, saga.Step("a").Status);
        Assert.Equal(2, saga.Step("a").Attempts);
        Assert.Equal(T0 + TimeSpan.FromSeconds(20), saga.Step("a").DueAt);
    }

    [Fact]
    public void Handle_DuplicateSuccess_OnlyRecordsReplyIgnored()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        var output = JsonSerializer.SerializeToElement(new { id = 7 });
        saga.Succeed("a", output: output);
        var afterFirst = saga.Instance;

        var second = saga.Succeed("a", output: output);

        Assert.Empty(second.Messages);
        Assert.Equal(HistoryTypes.ReplyIgnored, Assert.Single(second.History).Type);
        AssertSameState(afterFirst, second.Instance);
    }

    [Fact]
    public void Handle_DuplicateBusinessFailure_OnlyRecordsReplyIgnored()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Succeed("a");
        saga.Fail("b");
        var afterFirst = saga.Instance;

        var second = saga.Fail("b");

        Assert.Empty(second.Messages);
        Assert.Equal(HistoryTypes.ReplyIgnored, Assert.Single(second.History).Type);
        AssertSameState(afterFirst, second.Instance);
    }

    [Fact]
    public void Handle_DuplicateCompensated_OnlyRecordsReplyIgnored()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Succeed("a");
        saga.Succeed("b");
        saga.Fail("c");
        saga.Compensated("b");
        var afterFirst = saga.Instance;

        var second = saga.Compensated("b");

        Assert.Empty(second.Messages);
        Assert.Equal(HistoryTypes.ReplyIgnored, Assert.Single(second.History).Type);
        AssertSameState(afterFirst, second.Instance);
        Assert.Single(saga.AllHistory, h => h.Type == HistoryTypes.StepCompensated && h.Step == "b");
    }

    [Fact]
    public void Handle_ReplyForUnknownStep_IsIgnored()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        var decision = saga.Succeed("zzz");

        Assert.Empty(decision.Messages);
        Assert.Equal(HistoryTypes.ReplyIgnored, Assert.Single(decision.History).Type);
        Assert.Equal(StepStatus.Running, saga.Step("a").Status);
    }

    [Fact]
    public void Handle_SuccessForStepNeverSent_IsIgnored()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        var decision = saga.Succeed("c");

        Assert.Empty(decision.Messages);
        Assert.Equal(HistoryTypes.ReplyIgnored, Assert.Single(decision.History).Type);
        Assert.Equal(StepStatus.Pending, saga.Step("c").Status);
    }

    [Fact]
    public void Handle_CompensationFailsRetryably_RetriesPerPolicyThenFailsWithReason()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps(compensationAttempts: 3));
        saga.Succeed("a");
        saga.Fail("b");
        Assert.Equal(["comp:a#1"], saga.Last.Messages.Describe());

        var retry = saga.CompensationFailed("a", 1, retryable: true, reason: "ledger locked");

        Assert.Empty(retry.Messages);
        Assert.Equal([HistoryTypes.CompensationFailed, HistoryTypes.CompensationRetryScheduled], retry.History.Select(h => h.Type));
        Assert.Equal(StepStatus.CompensationRetryScheduled, saga.Step("a").Status);
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(500), saga.Step("a").DueAt);
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(500), saga.Instance.NextWakeAt);

        Assert.Equal(["comp:a#2"], saga.TickAt(T0 + TimeSpan.FromMilliseconds(500)).Messages.Describe());
        saga.CompensationFailed("a", 2, retryable: true, reason: "ledger locked");
        Assert.Equal(T0 + TimeSpan.FromMilliseconds(1500), saga.Step("a").DueAt);
        Assert.Equal(["comp:a#3"], saga.TickAt(T0 + TimeSpan.FromMilliseconds(1500)).Messages.Describe());

        var final = saga.CompensationFailed("a", 3, retryable: true, reason: "ledger locked");

        Assert.Equal(["failed"], final.Messages.Describe());
        var failed = Assert.IsType<SagaFailed>(final.Messages[0].Message);
        Assert.Equal(SagaState.Failed, saga.Instance.State);
        Assert.Equal(StepStatus.CompensationFailed, saga.Step("a").Status);
        Assert.Equal("compensation of a failed after 3 attempt(s): ledger locked", saga.Instance.Reason);
        Assert.Equal(saga.Instance.Reason, failed.Reason);
        Assert.Null(saga.Instance.NextWakeAt);
    }

    [Theory]
    [InlineData(20, true)]
    [InlineData(25, false)]
    public void Handle_DefaultCompensationPolicy_RidesOutAboutTwentyMinutesOfRetryableFailures(int outageMinutes, bool undone)
    {
        // No compensationRetry: the default applies. The participant's database is down, so every compensation is
        // answered at once with a retryable failure until the outage ends; then the next attempt succeeds.
        var saga = SagaDriver.Start(SagaDefinitionBuilder.Create("defaults", 1)
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a"))
            .Step("b", s => s.On("pb").Action("do-b").Compensation("undo-b"))
            .Build());
        saga.Succeed("a");
        saga.Fail("b");
        var attempt = 1;
        while (saga.Now < T0 + TimeSpan.FromMinutes(outageMinutes) && saga.Instance.State == SagaState.Compensating)
        {
            saga.CompensationFailed("a", attempt, retryable: true, reason: "database down");
            if (saga.Instance.State == SagaState.Compensating)
            {
                Assert.Equal([$"comp:a#{++attempt}"], saga.TickAt(saga.Step("a").DueAt!.Value).Messages.Describe());
            }
        }

        if (undone)
        {
            saga.Compensated("a", attempt);
            Assert.Equal(SagaState.Compensated, saga.Instance.State);
            Assert.InRange(attempt, 40, 49);
        }
        else
        {
            // About 21 minutes of failures use up the 50 attempts: a person takes over, with the reason.
            Assert.Equal(SagaState.Failed, saga.Instance.State);
            Assert.Equal(50, attempt);
            Assert.InRange(saga.Now - T0, TimeSpan.FromMinutes(21), TimeSpan.FromMinutes(22));
            Assert.Equal("compensation of a failed after 50 attempt(s): database down", saga.Instance.Reason);
        }
    }

    [Fact]
    public void Handle_NonRetryableCompensationFailed_FailsSaga()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Succeed("a");
        saga.Succeed("b");
        saga.Fail("c");

        var decision = saga.CompensationFailed("b", 1, retryable: false, reason: "refund rejected");

        Assert.Equal(["failed"], decision.Messages.Describe());
        Assert.Equal(SagaState.Failed, saga.Instance.State);
        Assert.Equal(StepStatus.CompensationFailed, saga.Step("b").Status);
        Assert.Equal(StepStatus.Succeeded, saga.Step("a").Status);
        Assert.Contains("refund rejected", saga.Instance.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(saga.AllMessages, m => m.Describe() == "comp:a#1");
    }

    [Fact]
    public void Handle_CompensationFailedFromOlderAttempt_IsIgnored()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Succeed("a");
        saga.Fail("b");
        saga.TickAt(T0 + TimeSpan.FromSeconds(20));
        Assert.Equal(["comp:a#2"], saga.Last.Messages.Describe());

        var decision = saga.CompensationFailed("a", 1, retryable: false);

        Assert.Empty(decision.Messages);
        Assert.Equal(HistoryTypes.ReplyIgnored, Assert.Single(decision.History).Type);
        Assert.Equal(SagaState.Compensating, saga.Instance.State);
    }

    [Fact]
    public void Tick_CompensationTimedOutWithNoAttemptsLeft_FailsSaga()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps(compensationAttempts: 1));
        saga.Succeed("a");
        saga.Fail("b");

        var decision = saga.TickAt(T0 + TimeSpan.FromSeconds(20));

        Assert.Equal([HistoryTypes.CompensationTimedOut, HistoryTypes.SagaFailed], decision.History.Select(h => h.Type));
        Assert.Equal(["failed"], decision.Messages.Describe());
        Assert.Equal(SagaState.Failed, saga.Instance.State);
        Assert.Equal(StepStatus.CompensationFailed, saga.Step("a").Status);
    }

    [Fact]
    public void Tick_SagaDeadlinePassed_CompensatesRunningStepAndEarlierOnes()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps(), deadline: TimeSpan.FromMinutes(1));
        Assert.Equal(T0 + TimeSpan.FromMinutes(1), saga.Instance.DeadlineAt);
        saga.Advance(TimeSpan.FromSeconds(55));
        saga.Succeed("a");
        Assert.Equal(T0 + TimeSpan.FromMinutes(1), saga.Instance.NextWakeAt);

        var decision = saga.TickAt(T0 + TimeSpan.FromMinutes(1));

        Assert.Equal(["comp:b#1"], decision.Messages.Describe());
        Assert.Equal(SagaState.Compensating, saga.Instance.State);
        Assert.Contains("deadline", saga.Instance.Reason, StringComparison.Ordinal);
        Assert.Equal(StepStatus.Pending, saga.Step("c").Status);
        Assert.Equal(["comp:a#1"], saga.Compensated("b").Messages.Describe());
        Assert.Equal(["compensated"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(StepStatus.Pending, saga.Step("c").Status);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is CompensateStep { Step: "c" });
    }

    [Fact]
    public void Tick_DefinitionDeadlinePassed_CompensatesRunningStep()
    {
        var definition = SagaDefinitionBuilder.Create("short", 1)
            .Deadline(TimeSpan.FromSeconds(5))
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a").Timeout(TimeSpan.FromSeconds(10)))
            .Build();
        var saga = SagaDriver.Start(definition);
        Assert.Equal(T0 + TimeSpan.FromSeconds(5), saga.Instance.NextWakeAt);

        var decision = saga.TickAt(T0 + TimeSpan.FromSeconds(5));

        Assert.Equal(["comp:a#1"], decision.Messages.Describe());
    }

    [Fact]
    public void Handle_FailureAfterPivot_FailsWithoutCompensating()
    {
        var saga = SagaDriver.Start(TestDefinitions.WithPivot());
        saga.Succeed("a");
        saga.Succeed("p");

        var decision = saga.Fail("r", reason: "address invalid");

        Assert.Equal(["failed"], decision.Messages.Describe());
        Assert.Equal(SagaState.Failed, saga.Instance.State);
        Assert.Contains("after the pivot", saga.Instance.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is CompensateStep);
        Assert.Equal(StepStatus.Succeeded, saga.Step("a").Status);
    }

    [Fact]
    public void Handle_PivotBusinessFailure_CompensatesEarlierSteps()
    {
        var saga = SagaDriver.Start(TestDefinitions.WithPivot());
        saga.Succeed("a");

        var decision = saga.Fail("p");

        Assert.Equal(["comp:a#1"], decision.Messages.Describe());
        Assert.Equal(["compensated"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(StepStatus.Failed, saga.Step("p").Status);
    }

    [Fact]
    public void Tick_PivotTimedOut_FailsBecauseItCannotBeUndone()
    {
        var saga = SagaDriver.Start(TestDefinitions.WithPivot());
        saga.Succeed("a");

        var decision = saga.TickAt(T0 + TimeSpan.FromSeconds(10));

        Assert.Equal(["failed"], decision.Messages.Describe());
        Assert.Equal(SagaState.Failed, saga.Instance.State);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is CompensateStep);
    }

    [Fact]
    public void Handle_RetriableStep_RetriedBeyondMaxAttempts()
    {
        var saga = SagaDriver.Start(TestDefinitions.WithPivot());
        saga.Succeed("a");
        saga.Succeed("p");

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            var failed = saga.Fail("r", attempt, retryable: true);
            Assert.Equal(StepStatus.RetryScheduled, saga.Step("r").Status);
            Assert.Empty(failed.Messages);
            Assert.Equal([$"exec:r#{attempt + 1}"], saga.TickAt(saga.Step("r").DueAt!.Value).Messages.Describe());
        }

        // Timeouts too go on past MaxAttempts (2).
        Assert.Equal(["exec:r#6"], saga.TickAt(saga.Step("r").DueAt!.Value).Messages.Describe());
        Assert.Equal(["completed"], saga.Succeed("r", 6).Messages.Describe());
        Assert.Equal(SagaState.Completed, saga.Instance.State);
    }

    [Fact]
    public void Tick_DeadlinePassedAfterPivot_DoesNotCompensate()
    {
        var definition = TestDefinitions.WithPivot();
        var saga = SagaDriver.Start(definition, deadline: TimeSpan.FromMinutes(1));
        saga.Advance(TimeSpan.FromSeconds(55));
        saga.Succeed("a");
        saga.Succeed("p");

        var decision = saga.TickAt(T0 + TimeSpan.FromMinutes(1));

        Assert.Empty(decision.Messages);
        Assert.Equal(SagaState.Running, saga.Instance.State);
    }

    /// <summary>
    /// Once the pivot passed, the deadline is ignored by OnTick, but NextWake still returns it. The saga's
    /// NextWakeAt stays in the past while the Tick changes nothing (so nothing is stored), and the timer
    /// poller picks the saga again on every poll until its next real timer.
    /// </summary>
    [Fact]
    public void Tick_DeadlinePassedAfterPivot_NextWakeAtMovesToNextRealTimer()
    {
        var saga = SagaDriver.Start(TestDefinitions.WithPivot(), deadline: TimeSpan.FromMinutes(1));
        saga.Advance(TimeSpan.FromSeconds(55));
        saga.Succeed("a");
        saga.Succeed("p");
        var rDue = saga.Step("r").DueAt!.Value;

        var decision = saga.TickAt(T0 + TimeSpan.FromMinutes(1));

        Assert.True(decision.Instance.NextWakeAt > saga.Now, $"NextWakeAt {decision.Instance.NextWakeAt:O} is not after now {saga.Now:O}");
        Assert.Equal(rDue, decision.Instance.NextWakeAt);
    }

    /// <summary>The value the processor stores when the pivot succeeds: a deadline that can no longer fire must not be the wake-up time.</summary>
    [Fact]
    public void Handle_PivotSucceededBeforeDeadline_NextWakeAtIgnoresDeadline()
    {
        var saga = SagaDriver.Start(TestDefinitions.WithPivot(), deadline: TimeSpan.FromMinutes(1));
        saga.Advance(TimeSpan.FromSeconds(55));
        saga.Succeed("a");

        saga.Succeed("p");

        Assert.Equal(saga.Step("r").DueAt, saga.Instance.NextWakeAt);
    }

    [Fact]
    public void Handle_StepSucceededWithOutput_MergesIntoDataUnderStepName()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        var decision = saga.Succeed("a", output: JsonSerializer.SerializeToElement(new { reservationId = "r-9", lines = new[] { 1, 2 } }));

        var data = decision.Messages[0].Execute().Data;
        Assert.Equal("o-1", data.GetProperty("orderId").GetString());
        Assert.Equal("r-9", data.GetProperty("a").GetProperty("reservationId").GetString());
        Assert.Equal(2, data.GetProperty("a").GetProperty("lines").GetArrayLength());
        using var stored = JsonDocument.Parse(saga.Instance.Data);
        Assert.Equal("r-9", stored.RootElement.GetProperty("a").GetProperty("reservationId").GetString());

        // Compensations carry the merged data too.
        saga.Succeed("b");
        var compensation = saga.Fail("c").Messages[0].Compensate();
        Assert.Equal("r-9", compensation.Data.GetProperty("a").GetProperty("reservationId").GetString());
    }

    [Fact]
    public void Handle_StepSucceededWithoutOutput_LeavesDataUnchanged()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());

        saga.Succeed("a");

        using var stored = JsonDocument.Parse(saga.Instance.Data);
        Assert.False(stored.RootElement.TryGetProperty("a", out _));
        Assert.Equal("o-1", stored.RootElement.GetProperty("orderId").GetString());
    }

    [Fact]
    public void Handle_SuccessiveDecisions_HistorySequencesStrictlyIncreaseWithoutGaps()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Succeed("a");
        saga.Succeed("a");
        saga.TickAt(T0 + TimeSpan.FromSeconds(1));
        saga.TickAt(T0 + TimeSpan.FromSeconds(10));
        saga.Succeed("b", 1);
        saga.Fail("c", 1);
        saga.Compensated("b");
        saga.Compensated("a");

        var sequences = saga.AllHistory.Select(h => h.Sequence).ToArray();

        Assert.Equal(Enumerable.Range(1, sequences.Length), sequences);
        Assert.Equal(sequences.Length, saga.Instance.HistorySequence);
        Assert.All(saga.AllHistory, h => Assert.Equal(SagaEngine.SystemActor, h.Actor));
    }

    [Fact]
    public void Handle_EveryChangingDecision_IncrementsConcurrencyVersion()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.TickAt(T0 + TimeSpan.FromSeconds(1));
        saga.Succeed("a");
        saga.Succeed("a");
        saga.TickAt(T0 + TimeSpan.FromSeconds(2));
        saga.Fail("b", retryable: true);
        saga.TickAt(saga.Step("b").DueAt!.Value);
        saga.Fail("b", 2);
        saga.Compensated("a");

        var previous = 0;
        foreach (var decision in saga.Decisions)
        {
            var expected = decision.Changed ? previous + 1 : previous;
            Assert.Equal(expected, decision.Instance.ConcurrencyVersion);
            previous = decision.Instance.ConcurrencyVersion;
        }

        Assert.Contains(saga.Decisions, d => !d.Changed);
        Assert.Equal(saga.Decisions.Count(d => d.Changed), saga.Instance.ConcurrencyVersion);
    }

    [Fact]
    public void Handle_AnyEvent_DoesNotMutateTheInstancePassedIn()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        var before = saga.Instance;
        var snapshot = JsonSerializer.Serialize(before);

        var decision = SagaEngine.Handle(saga.Definition, before, SagaEvent.From(new StepSucceeded(saga.SagaId, "a", 1)), T0);

        Assert.Equal(snapshot, JsonSerializer.Serialize(before));
        Assert.NotSame(before, decision.Instance);
        Assert.Equal(StepStatus.Running, before.Steps[0].Status);
    }

    [Fact]
    public void Handle_EventOnTerminalSaga_ChangesNoState()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Fail("a");
        var terminal = saga.Instance;

        var tick = saga.TickAt(T0 + TimeSpan.FromHours(1));
        var reply = saga.Compensated("a");

        Assert.False(tick.Changed);
        Assert.Empty(reply.Messages);
        Assert.Equal(SagaState.Compensated, saga.Instance.State);
        AssertSameState(terminal, saga.Instance);
    }

    private static void AssertSameState(SagaInstance expected, SagaInstance actual)
    {
        Assert.Equal(expected.State, actual.State);
        Assert.Equal(expected.Data, actual.Data);
        Assert.Equal(expected.Reason, actual.Reason);
        Assert.Equal(expected.NextWakeAt, actual.NextWakeAt);
        Assert.Equal(
            expected.Steps.Select(s => (s.Name, s.Status, s.Attempts, s.CompensationAttempts, s.DueAt)),
            actual.Steps.Select(s => (s.Name, s.Status, s.Attempts, s.CompensationAttempts, s.DueAt)));
    }
}
