using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// On PostgreSQL the barrier's last save ends with COMMIT (one round trip) when it holds only new rows and the barrier
/// row; anything else saves and then commits. Either way the step's effect and its barrier row commit together or not at all.
/// </summary>
public sealed class CommitWithSaveTests(PostgresParticipantFixture fixture) : IClassFixture<PostgresParticipantFixture>
{
    private const string FailAtCommit = "fail-at-commit";

    [SkippableFact]
    public async Task Action_NewRowsOnly_CommitWithTheSave()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        var before = fixture.ProbeCommits.Count;

        var reply = await fixture.Probe.ExecuteAsync(Note(saga, "kept"), default);

        Assert.IsType<StepSucceeded>(reply);
        Assert.Equal(0, fixture.ProbeCommits.Count - before);

        // Committed: another connection sees the note and the barrier row, and a duplicate replays without a second note.
        Assert.Equal(1, await ProbeDb.CountAsync(fixture.Services, saga));
        Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(saga));
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Note(saga, "kept"), default));
        Assert.Equal(1, await ProbeDb.CountAsync(fixture.Services, saga));
    }

    [SkippableFact]
    public async Task Compensation_ChangingARow_SavesThenCommits()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Note(saga, "to undo"), default));
        var before = fixture.ProbeCommits.Count;

        var reply = await fixture.Probe.CompensateAsync(new CompensateStep(saga, "order", 1, "note", "rewrite-note", 1, Data("to undo")), default);

        Assert.IsType<StepCompensated>(reply);
        Assert.Equal(1, fixture.ProbeCommits.Count - before);
        Assert.Equal([NoteHandler.Compensated], await fixture.ProbeNotesAsync(saga));
        Assert.Equal([BarrierOutcomes.Compensated], await fixture.BarrierOutcomesAsync(saga, BarrierOps.Compensation));
    }

    [SkippableFact]
    public async Task Action_FailingAtCommit_LeavesNothingAndRepliesRetryable()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        await InstallCommitCheckAsync();
        var saga = Guid.NewGuid();

        var reply = await fixture.Probe.ExecuteAsync(Note(saga, FailAtCommit), default);

        var failed = Assert.IsType<StepFailed>(reply);
        Assert.True(failed.Retryable);
        Assert.Equal(0, await ProbeDb.CountAsync(fixture.Services, saga));
        Assert.Empty(await fixture.BarrierOutcomesAsync(saga));

        // The pooled context that failed is clean for the next message.
        var next = Guid.NewGuid();
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Note(next, "after the failure"), default));
        Assert.Equal(1, await ProbeDb.CountAsync(fixture.Services, next));
    }

    private static ExecuteStep Note(Guid saga, string text) => new(saga, "order", 1, "note", "note", 1, Data(text));

    private static JsonElement Data(string text) => JsonSerializer.SerializeToElement(new { text });

    /// <summary>A deferred check: a note with this text fails the transaction at COMMIT, after every statement ran.</summary>
    private async Task InstallCommitCheckAsync()
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProbeDb>();
        await db.Database.ExecuteSqlRawAsync($$"""
            CREATE OR REPLACE FUNCTION probe_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS
            $f$ BEGIN RAISE EXCEPTION '{{FailAtCommit}}: refused when the transaction commits'; END $f$;
            DROP TRIGGER IF EXISTS probe_fail_at_commit ON probe_notes;
            CREATE CONSTRAINT TRIGGER probe_fail_at_commit AFTER INSERT ON probe_notes DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW WHEN (NEW."Text" = '{{FailAtCommit}}') EXECUTE FUNCTION probe_fail_at_commit();
            """);
    }
}
