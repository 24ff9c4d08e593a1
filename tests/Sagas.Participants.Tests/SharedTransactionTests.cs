using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// On PostgreSQL the first attempts of one command batch share a transaction: each handler in turn, then every barrier
/// row with its outcome and one commit. A command that does not succeed there, or a save that fails, leaves nothing of
/// the shared try, and each command is then handled alone, claiming its key first. The transaction a row was written in
/// is read from its <c>xmin</c>.
/// </summary>
public sealed class SharedTransactionTests(PostgresParticipantFixture fixture) : IClassFixture<PostgresParticipantFixture>
{
    [SkippableFact]
    public async Task FirstAttempts_CommitInOneTransaction_OneRoundTrip()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var sagas = Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToArray();
        var before = fixture.ProbeCommands.Count;

        var replies = await fixture.Probe.ExecuteTogetherAsync(sagas.Select((s, i) => Note(s, 1, $"note {i}")).ToList(), default);

        Assert.All(replies, r => Assert.IsType<StepSucceeded>(r));
        Assert.Equal(sagas, replies.Select(r => ((StepSucceeded)r!).SagaId));
        var command = Assert.Single(fixture.ProbeCommands.Since(before));
        Assert.EndsWith("COMMIT", command, StringComparison.Ordinal);
        for (var i = 0; i < sagas.Length; i++)
        {
            Assert.Equal([$"note {i}"], await fixture.ProbeNotesAsync(sagas[i]));
            Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(sagas[i]));
        }

        Assert.Equal(1, await TransactionsAsync(sagas));
    }

    [SkippableFact]
    public async Task OneBusinessFailure_NothingShared_EachAloneWithItsOwnOutcome()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var (good1, failing, good2) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var messages = new List<ExecuteStep>
        {
            Note(good1, 1, "first"),
            new(failing, "order", 1, "probe", "write-then-fail", 1, Orders.Data()),
            Note(good2, 1, "second"),
        };

        var replies = await fixture.Probe.ExecuteTogetherAsync(messages, default);

        Assert.IsType<StepSucceeded>(replies[0]);
        Assert.False(Assert.IsType<StepFailed>(replies[1]).Retryable);
        Assert.IsType<StepSucceeded>(replies[2]);
        Assert.Equal(["first"], await fixture.ProbeNotesAsync(good1));
        Assert.Equal(["second"], await fixture.ProbeNotesAsync(good2));
        Assert.Empty(await fixture.ProbeNotesAsync(failing));
        Assert.Equal([BarrierOutcomes.Failed], await fixture.BarrierOutcomesAsync(failing));

        // Each in a transaction of its own: the shared one rolled back.
        Assert.Equal(3, await TransactionsAsync([good1, failing, good2]));
    }

    [SkippableFact]
    public async Task SameStepTwiceInOneBatch_RunsOnce_BothReplyTheCommittedOutcome()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var (twice, other) = (Guid.NewGuid(), Guid.NewGuid());
        var message = Note(twice, 1, "once");

        var replies = await fixture.Probe.ExecuteTogetherAsync([message, Note(other, 1, "other"), message], default);

        Assert.All(replies, r => Assert.IsType<StepSucceeded>(r));
        Assert.Equal(["once"], await fixture.ProbeNotesAsync(twice));
        Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(twice));
        Assert.Equal(["other"], await fixture.ProbeNotesAsync(other));
    }

    [SkippableFact]
    public async Task AStepAlreadyRecorded_IsNotRunAgain_AndTheOthersStillCommit()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var (done, fresh) = (Guid.NewGuid(), Guid.NewGuid());
        fixture.Gates.Open(done);
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Gated(done), default));
        Assert.Equal(1, fixture.Flaky.Calls(done));

        var replies = await fixture.Probe.ExecuteTogetherAsync([Gated(done), Note(fresh, 1, "fresh")], default);

        // The shared try ran the recorded step's handler again, collided on its key and committed nothing; alone, it
        // claimed first, found the row and replied from it: the first call's output.
        Assert.Equal(1, Assert.IsType<StepSucceeded>(replies[0]).Output!.Value.GetProperty("call").GetInt32());
        Assert.Equal(["call 1"], await fixture.ProbeNotesAsync(done));
        Assert.IsType<StepSucceeded>(replies[1]);
        Assert.Equal(["fresh"], await fixture.ProbeNotesAsync(fresh));
    }

    [SkippableFact]
    public async Task OnlyFirstAttemptsOfLateClaimingActionsWithoutFaults_MayShare()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();

        Assert.True(fixture.Probe.MayShare(Note(saga, 1, "x"), FaultDecision.None));
        Assert.False(fixture.Probe.MayShare(Note(saga, 2, "x"), FaultDecision.None));
        Assert.False(fixture.Probe.MayShare(Note(saga, 1, "x"), FaultDecision.Drop));
        Assert.False(fixture.Probe.MayShare(new ExecuteStep(saga, "order", 1, "work", "long-work", 1, Orders.Data()), FaultDecision.None));
        Assert.False(fixture.Probe.MayShare(new ExecuteStep(saga, "order", 1, "nope", "no-such-action", 1, Orders.Data()), FaultDecision.None));
    }

    [Fact]
    public async Task OnSqlite_NothingShares()
    {
        var sqlite = new SqliteParticipantFixture();
        await sqlite.InitializeAsync();
        try
        {
            Assert.False(sqlite.Probe.MayShare(Note(Guid.NewGuid(), 1, "x"), FaultDecision.None));
        }
        finally
        {
            await sqlite.DisposeAsync();
        }
    }

    /// <summary>How many transactions wrote the sagas' notes and barrier rows.</summary>
    private async Task<int> TransactionsAsync(IReadOnlyList<Guid> sagas)
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProbeDb>();
        var ids = new NpgsqlParameter("ids", sagas.ToArray());
        return await db.Database.SqlQueryRaw<int>(
            """
            SELECT count(DISTINCT x)::int AS "Value" FROM (
                SELECT xmin::text AS x FROM probe_notes WHERE "SagaId" = ANY(@ids)
                UNION ALL SELECT xmin::text FROM saga_barrier WHERE saga_id = ANY(@ids)) AS rows
            """, ids).SingleAsync();
    }

    private static ExecuteStep Note(Guid saga, int attempt, string text) =>
        new(saga, "order", 1, "note", "note", attempt, JsonSerializer.SerializeToElement(new { text }));

    private static ExecuteStep Gated(Guid saga) => new(saga, "order", 1, "gated", "gated-note", 1, Orders.Data());
}
