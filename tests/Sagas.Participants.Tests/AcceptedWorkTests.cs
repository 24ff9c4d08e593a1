using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// Long work: <see cref="StepResult.Accepted"/>, heartbeats and the later report through <see cref="StepReporter{TDb}"/>,
/// with the barrier's guarantees (duplicates never restart the work; a compensation that comes first wins and the
/// late completion commits nothing). Run once per provider.
/// </summary>
public abstract class AcceptedWorkTests(ParticipantFixture fixture)
{
    private const string Step = "long";

    protected ParticipantFixture Fixture { get; } = fixture;

    [SkippableFact]
    public async Task Accepted_DuplicatesAndReport_WorkStartsOnceRepliesCarryLatestAttempt()
    {
        var saga = Start();

        var first = Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 1));
        var again = Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 1));
        var redriven = Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 2));

        Assert.Equal(TimeSpan.FromSeconds(30), first.ExtendBy);
        Assert.Equal(1, again.Attempt);
        Assert.Equal(2, redriven.Attempt);
        Assert.Equal(1, Fixture.Flaky.Calls(saga));
        Assert.Equal([LongWorkHandler.JobNote], await Fixture.ProbeNotesAsync(saga));

        Assert.True(await Fixture.ProbeReporter.HeartbeatAsync(saga, Step, TimeSpan.FromSeconds(5)));
        var beat = Assert.IsType<StepHeartbeat>(Assert.Single(Fixture.Replies.For(saga)));
        Assert.Equal((2, TimeSpan.FromSeconds(5)), (beat.Attempt, beat.ExtendBy));

        var report = await Fixture.ProbeReporter.CompleteAsync(saga, Step, async (db, ct) =>
        {
            db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = saga, Text = "done" });
            await db.SaveChangesAsync(ct);
            return StepResult.SucceededWith(new { result = 42 });
        });

        Assert.Equal(ReportStatus.Reported, report.Status);
        var succeeded = Assert.IsType<StepSucceeded>(report.Reply);
        Assert.Equal(2, succeeded.Attempt);
        Assert.Same(succeeded, Fixture.Replies.For(saga)[^1]);
        Assert.Equal(["done", LongWorkHandler.JobNote], (await Fixture.ProbeNotesAsync(saga)).Order(StringComparer.Ordinal));

        // After the report: a re-driven command gets the stored outcome, a second report changes nothing.
        var late = Assert.IsType<StepSucceeded>(await ExecuteAsync(saga, attempt: 3));
        Assert.Equal(42, late.Output!.Value.GetProperty("result").GetInt32());
        Assert.Equal(ReportStatus.AlreadyReported, (await Fixture.ProbeReporter.SucceedAsync(saga, Step, new { result = 7 })).Status);
        Assert.False(await Fixture.ProbeReporter.HeartbeatAsync(saga, Step));
        Assert.Equal(2, (await Fixture.ProbeNotesAsync(saga)).Count);
        Assert.Equal(1, Fixture.Flaky.Calls(saga));
    }

    [SkippableFact]
    public async Task Compensation_WhileAccepted_UndoesAcceptanceAndRefusesLateCompletion()
    {
        var saga = Start();
        Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 1));

        Assert.IsType<StepCompensated>(await CompensateAsync(saga));
        Assert.Empty(await Fixture.ProbeNotesAsync(saga));

        var report = await Fixture.ProbeReporter.CompleteAsync(saga, Step, async (db, ct) =>
        {
            db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = saga, Text = "done" });
            await db.SaveChangesAsync(ct);
            return StepResult.Succeeded();
        });

        Assert.Equal(new StepReport(ReportStatus.Refused, null), report);
        Assert.Empty(await Fixture.ProbeNotesAsync(saga));
        Assert.Empty(Fixture.Replies.For(saga));
        Assert.False(await Fixture.ProbeReporter.HeartbeatAsync(saga, Step));
        var redriven = Assert.IsType<StepFailed>(await ExecuteAsync(saga, attempt: 2));
        Assert.False(redriven.Retryable);
        Assert.Equal(StepDispatcher<ProbeDb>.CompensatedWhileAcceptedReason, redriven.Reason);
        Assert.IsType<StepCompensated>(await CompensateAsync(saga));
        Assert.Equal(1, Fixture.Flaky.Calls(saga));
    }

    [SkippableFact]
    public async Task Report_BusinessFailure_RollsBackFinishingWritesKeepsVerdict()
    {
        var saga = Start();
        Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 1));
        Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 3));

        var report = await Fixture.ProbeReporter.CompleteAsync(saga, Step, async (db, ct) =>
        {
            db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = saga, Text = "half done" });
            await db.SaveChangesAsync(ct);
            return StepResult.BusinessFailure("the printer caught fire");
        });

        var failed = Assert.IsType<StepFailed>(report.Reply);
        Assert.Equal((ReportStatus.Reported, 3, false, "the printer caught fire"), (report.Status, failed.Attempt, failed.Retryable, failed.Reason));
        Assert.Equal([LongWorkHandler.JobNote], await Fixture.ProbeNotesAsync(saga));
        var again = Assert.IsType<StepFailed>((await Fixture.ProbeReporter.FailAsync(saga, Step, "again")).Reply);
        Assert.Equal((3, "the printer caught fire"), (again.Attempt, again.Reason));
        Assert.Equal("the printer caught fire", Assert.IsType<StepFailed>(await ExecuteAsync(saga, attempt: 4)).Reason);
    }

    [SkippableFact]
    public async Task Report_RetryableFailure_CommitsNothingWorkStaysAccepted()
    {
        var saga = Start();
        Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 1));

        var retry = await Fixture.ProbeReporter.CompleteAsync(saga, Step, async (db, ct) =>
        {
            db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = saga, Text = "lost" });
            await db.SaveChangesAsync(ct);
            return StepResult.RetryableFailure("backend busy");
        });

        Assert.Equal(new StepReport(ReportStatus.RetryLater, null), retry);
        Assert.Equal([LongWorkHandler.JobNote], await Fixture.ProbeNotesAsync(saga));
        Assert.True(await Fixture.ProbeReporter.HeartbeatAsync(saga, Step));
        Assert.Equal(ReportStatus.Reported, (await Fixture.ProbeReporter.SucceedAsync(saga, Step)).Status);
        Assert.Equal(ReportStatus.NotAccepted, (await Fixture.ProbeReporter.SucceedAsync(Guid.NewGuid(), Step)).Status);
    }

    [SkippableFact]
    public async Task CompensationRacesCompletion_ManySagas_EitherRefusedOrCompensatedNeverLeftOver()
    {
        var sagas = Enumerable.Range(0, 20).Select(_ => Start()).ToList();
        foreach (var saga in sagas)
        {
            Assert.IsType<StepHeartbeat>(await ExecuteAsync(saga, attempt: 1));
        }

        var outcomes = await Task.WhenAll(sagas.Select(async saga =>
        {
            var complete = Task.Run(() => Fixture.ProbeReporter.CompleteAsync(saga, Step, async (db, ct) =>
            {
                db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = saga, Text = "done" });
                await db.SaveChangesAsync(ct);
                return StepResult.Succeeded();
            }));
            var compensate = Task.Run(() => CompensateAsync(saga));
            Assert.IsType<StepCompensated>(await compensate);
            return (await complete).Status;
        }));

        Assert.All(outcomes, s => Assert.Contains(s, new[] { ReportStatus.Reported, ReportStatus.Refused }));
        foreach (var saga in sagas)
        {
            // Whichever won, the compensation ran last in effect: nothing of the work survives.
            Assert.Empty(await Fixture.ProbeNotesAsync(saga));
        }
    }

    private Guid Start()
    {
        Skip.IfNot(Fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        return Guid.NewGuid();
    }

    private Task<object?> ExecuteAsync(Guid saga, int attempt) =>
        Fixture.Probe.ExecuteAsync(Orders.Execute(saga, Step, "long-work", attempt, Orders.Data()), default);

    private Task<object?> CompensateAsync(Guid saga) =>
        Fixture.Probe.CompensateAsync(Orders.Compensate(saga, Step, "undo-long-work", 1, Orders.Data()), default);
}

public sealed class SqliteAcceptedWorkTests(SqliteParticipantFixture fixture) : AcceptedWorkTests(fixture), IClassFixture<SqliteParticipantFixture>;

public sealed class PostgresAcceptedWorkTests(PostgresParticipantFixture fixture) : AcceptedWorkTests(fixture), IClassFixture<PostgresParticipantFixture>;
