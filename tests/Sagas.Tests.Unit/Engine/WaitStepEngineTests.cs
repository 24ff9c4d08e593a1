using System.Text.Json;
using Sagas.Contracts;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Tests.Unit.Engine;

/// <summary>Wait steps and signals, heartbeats, and the data fields a step's commands carry.</summary>
public sealed class WaitStepEngineTests
{
    private const string Ops = "alice";
    private static readonly DateTimeOffset T0 = SagaDriver.T0;

    [Fact]
    public void Handle_StepBeforeWaitSucceeds_WaitsWithoutCommandAndWithTimer()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Advance(TimeSpan.FromSeconds(2));

        var decision = saga.Succeed("a");

        Assert.Empty(decision.Messages);
        Assert.Equal([HistoryTypes.StepSucceeded, HistoryTypes.WaitStarted], decision.History.Select(h => h.Type));
        Assert.Equal("w", decision.History[1].Step);
        Assert.Equal(StepStatus.Waiting, saga.Step("w").Status);
        Assert.Equal(T0 + TimeSpan.FromSeconds(62), saga.Step("w").DueAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(62), saga.Instance.NextWakeAt);
        Assert.Equal(StepStatus.Pending, saga.Step("b").Status);
        Assert.Equal(SagaState.Running, saga.Instance.State);
    }

    [Fact]
    public void Signal_WhileWaiting_PayloadMergedIntoDataAndNextCommandCarriesIt()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB(), data: """{"orderId":"o-1","box":1}""");
        saga.Succeed("a", output: JsonSerializer.SerializeToElement(new { reserved = true }));

        var decision = Signal(saga, "packed", """{"box":3,"weight":{"kg":2.5}}""");

        Assert.Null(decision.Note);
        Assert.Null(decision.Rejection);
        Assert.Equal(
            [HistoryTypes.SignalReceived, HistoryTypes.SignalConsumed, HistoryTypes.StepCommandSent],
            decision.History.Select(h => h.Type));
        Assert.Equal((Ops, "packed: ready"), (decision.History[0].Actor, decision.History[0].Detail));
        Assert.Equal("w", decision.History[1].Step);
        Assert.Equal(["exec:b#1"], decision.Messages.Describe());
        var data = decision.Messages[0].Execute().Data;
        Assert.Equal("""{"orderId":"o-1","box":3,"a":{"reserved":true},"weight":{"kg":2.5}}""", data.GetRawText());
        Assert.Equal(data.GetRawText(), saga.Instance.Data);
        Assert.Equal(StepStatus.Succeeded, saga.Step("w").Status);
        Assert.Null(saga.Step("w").DueAt);
        var signal = Assert.Single(saga.Instance.Signals);
        Assert.True(signal.Consumed);
    }

    [Fact]
    public void Signal_BeforeWaitStarts_KeptWithNoteThenTakenWhenTheWaitBegins()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());

        var early = Signal(saga, "packed", """{"box":9}""");

        Assert.Equal("no step is waiting for 'packed' yet; it is kept until one does", early.Note);
        Assert.Empty(early.Messages);
        Assert.Equal([HistoryTypes.SignalReceived], early.History.Select(h => h.Type));
        Assert.False(Assert.Single(saga.Instance.Signals).Consumed);
        Assert.Equal("""{"orderId":"o-1"}""", saga.Instance.Data);

        var decision = saga.Succeed("a");

        Assert.Equal(
            [HistoryTypes.StepSucceeded, HistoryTypes.WaitStarted, HistoryTypes.SignalConsumed, HistoryTypes.StepCommandSent],
            decision.History.Select(h => h.Type));
        Assert.Equal(["exec:b#1"], decision.Messages.Describe());
        Assert.Equal(9, decision.Messages[0].Execute().Data.GetProperty("box").GetInt32());
        Assert.True(Assert.Single(saga.Instance.Signals).Consumed);
    }

    [Fact]
    public void Signal_TwoOfTheSameName_FeedTwoWaitsInArrivalOrder()
    {
        var saga = SagaDriver.Start(WaitDefinitions.TwoWaits());
        Signal(saga, "packed", """{"n":1}""");
        Signal(saga, "packed", """{"n":2}""");

        var first = saga.Succeed("a");
        Assert.Equal(["exec:b#1"], first.Messages.Describe());
        Assert.Equal(1, first.Messages[0].Execute().Data.GetProperty("n").GetInt32());
        Assert.Equal([true, false], saga.Instance.Signals.Select(s => s.Consumed));

        var second = saga.Succeed("b");
        Assert.Equal(["exec:c#1"], second.Messages.Describe());
        Assert.Equal(2, second.Messages[0].Execute().Data.GetProperty("n").GetInt32());
        Assert.Equal([true, true], saga.Instance.Signals.Select(s => s.Consumed));
        Assert.Equal(["completed"], saga.Succeed("c").Messages.Describe());
    }

    [Fact]
    public void Signal_OneArrivesForTwoWaits_SecondWaitKeepsWaitingUntilTheNext()
    {
        var saga = SagaDriver.Start(WaitDefinitions.TwoWaits());
        Signal(saga, "packed", """{"n":1}""");
        saga.Succeed("a");

        var waiting = saga.Succeed("b");

        Assert.Empty(waiting.Messages);
        Assert.Equal(StepStatus.Waiting, saga.Step("w2").Status);
        Assert.Equal(["exec:c#1"], Signal(saga, "packed", """{"n":2}""").Messages.Describe());
    }

    [Fact]
    public void Signal_WrongNameWhileWaiting_KeptAndReportedAndWaitGoesOn()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");

        var decision = Signal(saga, "shipped", null);

        Assert.Equal("no step is waiting for 'shipped' yet; it is kept until one does", decision.Note);
        Assert.Empty(decision.Messages);
        Assert.Equal([HistoryTypes.SignalReceived], decision.History.Select(h => h.Type));
        Assert.Equal(StepStatus.Waiting, saga.Step("w").Status);
        var kept = Assert.Single(saga.Instance.Signals);
        Assert.Equal(("shipped", false, Ops), (kept.Name, kept.Consumed, kept.Actor));
        Assert.Equal(3, decision.Instance.ConcurrencyVersion);
    }

    [Fact]
    public void Signal_AfterCompletion_RecordedWithNoteSayingNothingWillUseIt()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");
        Signal(saga, "packed", null);
        saga.Succeed("b");

        var decision = Signal(saga, "packed", null);

        Assert.Equal("the saga is Completed; the signal 'packed' is recorded but nothing will use it", decision.Note);
        Assert.Empty(decision.Messages);
        Assert.Equal(SagaState.Completed, saga.Instance.State);
    }

    [Fact]
    public void Signal_NonObjectPayload_TakenWithoutChangingData()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");

        var decision = Signal(saga, "packed", "[1,2]");

        Assert.Equal(["exec:b#1"], decision.Messages.Describe());
        Assert.Equal("""{"orderId":"o-1"}""", saga.Instance.Data);
    }

    [Fact]
    public void Tick_WaitTimesOut_CompensatesEarlierStepsAndWaitNeedsNoCompensation()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");

        Assert.False(saga.TickAt(T0 + TimeSpan.FromSeconds(60) - TimeSpan.FromMilliseconds(1)).Changed);
        var tick = saga.TickAt(T0 + TimeSpan.FromSeconds(60));

        Assert.Equal(
            [HistoryTypes.WaitTimedOut, HistoryTypes.CompensationStarted, HistoryTypes.CompensationCommandSent],
            tick.History.Select(h => h.Type));
        Assert.Equal("w", tick.History[0].Step);
        Assert.Equal(["comp:a#1"], tick.Messages.Describe());
        Assert.Equal(CompensationTriggers.Timeout, saga.Instance.CompensationTrigger);
        Assert.Equal(StepStatus.Failed, saga.Step("w").Status);
        Assert.Equal("signal 'packed' not received within 00:01:00", saga.Step("w").LastError);

        Assert.Equal(["compensated"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(SagaState.Compensated, saga.Instance.State);
        Assert.Equal(["exec:a#1", "comp:a#1", "compensated"], saga.AllMessages.Describe());

        // A signal that comes too late is kept on record but wakes nothing.
        var late = Signal(saga, "packed", null);
        Assert.Empty(late.Messages);
        Assert.Equal(StepStatus.Failed, saga.Step("w").Status);
    }

    [Fact]
    public void Handle_FailureAfterPassedWait_WaitMarkedCompensatedWithoutCommand()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");
        Signal(saga, "packed", null);

        var failed = saga.Fail("b");

        Assert.Equal(["comp:a#1"], failed.Messages.Describe());
        Assert.Equal(
            [HistoryTypes.StepFailed, HistoryTypes.CompensationStarted, HistoryTypes.StepCompensated, HistoryTypes.CompensationCommandSent],
            failed.History.Select(h => h.Type));
        Assert.Equal(("w", "nothing to undo: a wait step"), (failed.History[2].Step, failed.History[2].Detail));
        Assert.Equal(StepStatus.Compensated, saga.Step("w").Status);
        Assert.DoesNotContain(saga.AllMessages, m => m.Message is CompensateStep { Step: "w" });
    }

    [Fact]
    public void Cancel_DuringWait_StopsWaitingAndCompensatesEarlierSteps()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");

        var cancel = saga.Apply(new SagaEvent.Operator(new OperatorCommand.Cancel(Ops, "no longer needed")));

        Assert.Null(cancel.Rejection);
        Assert.Equal(["comp:a#1"], cancel.Messages.Describe());
        Assert.Equal(
            [HistoryTypes.CancelRequested, HistoryTypes.CompensationStarted, HistoryTypes.CompensationCommandSent],
            cancel.History.Select(h => h.Type));
        Assert.Equal(StepStatus.Pending, saga.Step("w").Status);
        Assert.Null(saga.Step("w").DueAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(10), saga.Instance.NextWakeAt);

        // A signal during the rollback wakes nothing.
        Assert.Empty(Signal(saga, "packed", null).Messages);
        Assert.Equal(StepStatus.Pending, saga.Step("w").Status);
        Assert.Equal(["SagaCancelled"], saga.Compensated("a").Messages.Describe());
        Assert.Equal(SagaState.Cancelled, saga.Instance.State);
    }

    [Fact]
    public void Resume_SignalArrivedWhilePaused_TakenOnResume()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");
        saga.Apply(new SagaEvent.Operator(new OperatorCommand.Pause(Ops, "hold")));

        var paused = Signal(saga, "packed", """{"box":4}""");
        Assert.Empty(paused.Messages);
        Assert.Equal(StepStatus.Waiting, saga.Step("w").Status);

        var resume = saga.Apply(new SagaEvent.Operator(new OperatorCommand.Resume(Ops, "go")));

        Assert.Equal(["exec:b#1"], resume.Messages.Describe());
        Assert.Equal(4, resume.Messages[0].Execute().Data.GetProperty("box").GetInt32());
    }

    [Fact]
    public void Heartbeat_RunningAttempt_PushesDueAtSoNoTimeoutAtTheOldTime()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Advance(TimeSpan.FromSeconds(8));

        var beat = Heartbeat(saga, "a", 1, TimeSpan.FromSeconds(30));

        Assert.Empty(beat.Messages);
        Assert.Equal([HistoryTypes.StepHeartbeat], beat.History.Select(h => h.Type));
        Assert.Equal(("a", 1), (beat.History[0].Step, beat.History[0].Attempt));
        Assert.Equal(T0 + TimeSpan.FromSeconds(38), saga.Step("a").DueAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(38), saga.Instance.NextWakeAt);
        Assert.Equal(StepStatus.Running, saga.Step("a").Status);

        Assert.False(saga.TickAt(T0 + TimeSpan.FromSeconds(10)).Changed);
        Assert.False(saga.TickAt(T0 + TimeSpan.FromSeconds(38) - TimeSpan.FromMilliseconds(1)).Changed);
        var timeout = saga.TickAt(T0 + TimeSpan.FromSeconds(38));

        Assert.Equal([HistoryTypes.StepTimedOut, HistoryTypes.StepCommandSent], timeout.History.Select(h => h.Type));
        Assert.Equal(["exec:a#2"], timeout.Messages.Describe());
    }

    [Fact]
    public void Heartbeat_WithoutExtendBy_PushesDueAtByTheStepTimeout()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Advance(TimeSpan.FromSeconds(7));

        Heartbeat(saga, "a", 1, null);

        Assert.Equal(T0 + TimeSpan.FromSeconds(17), saga.Step("a").DueAt);
    }

    [Fact]
    public void Heartbeat_StaleAttempt_IgnoredAndDueAtUnchanged()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.TickAt(T0 + TimeSpan.FromSeconds(10));
        Assert.Equal(2, saga.Step("a").Attempts);
        var due = saga.Step("a").DueAt;

        var beat = Heartbeat(saga, "a", 1, TimeSpan.FromHours(1));

        Assert.Empty(beat.Messages);
        Assert.Equal([HistoryTypes.ReplyIgnored], beat.History.Select(h => h.Type));
        Assert.Equal(due, saga.Step("a").DueAt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(20), due);
        Assert.Equal(["exec:a#3"], saga.TickAt(T0 + TimeSpan.FromSeconds(20)).Messages.Describe());
    }

    [Fact]
    public void Heartbeat_StepNotRunning_Ignored()
    {
        var saga = SagaDriver.Start(WaitDefinitions.AWaitB());
        saga.Succeed("a");

        var forDone = Heartbeat(saga, "a", 1, TimeSpan.FromHours(1));
        var forWait = Heartbeat(saga, "w", 1, TimeSpan.FromHours(1));

        Assert.Equal([HistoryTypes.ReplyIgnored], forDone.History.Select(h => h.Type));
        Assert.Equal([HistoryTypes.ReplyIgnored], forWait.History.Select(h => h.Type));
        Assert.Equal(T0 + TimeSpan.FromSeconds(60), saga.Step("w").DueAt);
        Assert.Null(saga.Step("a").DueAt);
    }

    [Fact]
    public void Heartbeat_WhilePaused_DeferredAndAppliedOnResume()
    {
        var saga = SagaDriver.Start(TestDefinitions.ThreeSteps());
        saga.Apply(new SagaEvent.Operator(new OperatorCommand.Pause(Ops, "hold")));
        saga.Advance(TimeSpan.FromSeconds(5));

        var beat = Heartbeat(saga, "a", 1, TimeSpan.FromSeconds(100));
        Assert.Equal([HistoryTypes.ReplyDeferred], beat.History.Select(h => h.Type));
        Assert.Equal(T0 + TimeSpan.FromSeconds(10), saga.Step("a").DueAt);

        saga.Advance(TimeSpan.FromSeconds(5));
        saga.Apply(new SagaEvent.Operator(new OperatorCommand.Resume(Ops, "go")));

        Assert.Equal(T0 + TimeSpan.FromSeconds(110), saga.Step("a").DueAt);
    }

    [Fact]
    public void Start_StepWithDataFields_SendsOnlyThoseFieldsAndKeepsAllData()
    {
        var saga = SagaDriver.Start(WaitDefinitions.WithDataFields(), data: """{"orderId":"o-1","card":"4111","amount":12}""");

        var first = saga.Last.Messages[0].Execute();
        Assert.Equal("""{"orderId":"o-1","amount":12}""", first.Data.GetRawText());

        var next = saga.Succeed("a", output: JsonSerializer.SerializeToElement(new { id = 7 }));
        var all = next.Messages[0].Execute();
        Assert.Equal("b", all.Step);
        Assert.Equal("""{"orderId":"o-1","card":"4111","amount":12,"a":{"id":7}}""", all.Data.GetRawText());

        var third = saga.Succeed("b").Messages[0].Execute();
        Assert.Equal("c", third.Step);
        Assert.Equal("""{"a":{"id":7},"card":"4111"}""", third.Data.GetRawText());
        Assert.Equal("""{"orderId":"o-1","card":"4111","amount":12,"a":{"id":7}}""", saga.Instance.Data);

        var compensation = saga.Fail("c").Messages.Single().Compensate();
        Assert.Equal("b", compensation.Step);
        Assert.Equal(saga.Instance.Data, compensation.Data.GetRawText());
        saga.Compensated("b");
        var undoA = saga.Last.Messages.Single().Compensate();
        Assert.Equal("""{"orderId":"o-1","amount":12}""", undoA.Data.GetRawText());
    }

    private static Decision Signal(SagaDriver saga, string name, string? payload) =>
        saga.Apply(new SagaEvent.Operator(new OperatorCommand.Signal(Ops, name == "packed" ? "ready" : "", name, payload)));

    private static Decision Heartbeat(SagaDriver saga, string step, int attempt, TimeSpan? extendBy) =>
        saga.Apply(SagaEvent.From(new StepHeartbeat(saga.SagaId, step, attempt, extendBy)));
}

internal static class WaitDefinitions
{
    /// <summary>a (compensatable, 10 s); w waits up to 60 s for "packed"; b (compensatable, 10 s).</summary>
    public static SagaDefinition AWaitB() =>
        SagaDefinitionBuilder.Create("wait", 1)
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a").Timeout(TimeSpan.FromSeconds(10)))
            .Step("w", s => s.WaitFor("packed").Timeout(TimeSpan.FromSeconds(60)))
            .Step("b", s => s.On("pb").Action("do-b").Compensation("undo-b").Timeout(TimeSpan.FromSeconds(10)))
            .Build();

    /// <summary>a; w1 waits for "packed"; b; w2 waits for "packed"; c.</summary>
    public static SagaDefinition TwoWaits() =>
        SagaDefinitionBuilder.Create("two-waits", 1)
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a"))
            .Step("w1", s => s.WaitFor("packed").Timeout(TimeSpan.FromSeconds(60)))
            .Step("b", s => s.On("pb").Action("do-b").Compensation("undo-b"))
            .Step("w2", s => s.WaitFor("packed").Timeout(TimeSpan.FromSeconds(60)))
            .Step("c", s => s.On("pc").Action("do-c").Compensation("undo-c"))
            .Build();

    /// <summary>a sends orderId+amount (+ a missing field); b sends everything; c sends a's output and the card.</summary>
    public static SagaDefinition WithDataFields() =>
        SagaDefinitionBuilder.Create("fields", 1)
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a").SendFields("orderId", "amount", "missing"))
            .Step("b", s => s.On("pb").Action("do-b").Compensation("undo-b"))
            .Step("c", s => s.On("pc").Action("do-c").Compensation("undo-c").SendFields("a", "card"))
            .Build();
}
