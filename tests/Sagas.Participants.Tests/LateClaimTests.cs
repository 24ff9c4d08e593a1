using System.Text.Json;
using Sagas.Contracts;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// On PostgreSQL the first try of attempt 1 runs the handler before writing its barrier row, which goes in with the
/// outcome and the commit. A duplicate may then run the handler as well, but only one delivery's writes commit and every
/// reply is the committed outcome. (A handler with <see cref="IStepHandler.ClaimBeforeRunning"/> never runs for a
/// duplicate: <see cref="AcceptedWorkTests"/> counts the long work's starts on PostgreSQL.)
/// </summary>
public sealed class LateClaimTests(PostgresParticipantFixture fixture) : IClassFixture<PostgresParticipantFixture>
{
    [SkippableFact]
    public async Task FirstAttempt_OneCommandWritesTheRowsAndTheKeyAndCommits()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        var before = fixture.ProbeCommands.Count;

        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Note(saga, 1, "first"), default));

        var command = Assert.Single(fixture.ProbeCommands.Since(before));
        Assert.Contains("INSERT INTO saga_barrier", command, StringComparison.Ordinal);
        Assert.DoesNotContain("ON CONFLICT", command, StringComparison.Ordinal);
        Assert.EndsWith("COMMIT", command, StringComparison.Ordinal);
        Assert.Equal(["first"], await fixture.ProbeNotesAsync(saga));
        Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(saga));

        // A later attempt claims its key first: it finds the row and runs nothing else.
        before = fixture.ProbeCommands.Count;
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Note(saga, 2, "first"), default));
        var claim = fixture.ProbeCommands.Since(before);
        Assert.Contains("ON CONFLICT DO NOTHING", claim[0], StringComparison.Ordinal);
        Assert.Equal(["first"], await fixture.ProbeNotesAsync(saga));
    }

    [SkippableFact]
    public async Task DuplicateOfACommittedFirstAttempt_RunsButCommitsNothing_RepliesTheStoredOutput()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        fixture.Gates.Open(saga);
        var message = Gated(saga);

        var first = Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(message, default));
        var duplicate = Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(message, default));
        var redriven = Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(message with { Attempt = 2 }, default));

        // The duplicate of attempt 1 ran the handler (call 2), collided on the key, rolled back and replied from the row;
        // attempt 2 claimed first and did not run it.
        Assert.Equal(2, fixture.Flaky.Calls(saga));
        Assert.All(new[] { first, duplicate, redriven }, r => Assert.Equal(1, Call(r)));
        Assert.Equal(["call 1"], await fixture.ProbeNotesAsync(saga));
        Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(saga));
    }

    [SkippableFact]
    public async Task ConcurrentFirstAttempts_TheOneThatCommitsIsEveryReply()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        var message = Gated(saga);

        // The first delivery has run its handler and waits before its save; a duplicate of the same attempt runs and commits.
        var first = Task.Run(() => fixture.Probe.ExecuteAsync(message, default));
        await fixture.Gates.ReachedAsync(saga).WaitAsync(TimeSpan.FromSeconds(30));
        var duplicate = Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(message, default).WaitAsync(TimeSpan.FromSeconds(30)));
        fixture.Gates.Open(saga);
        var held = Assert.IsType<StepSucceeded>(await first.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, Call(duplicate));
        Assert.Equal(2, Call(held));
        Assert.Equal(["call 2"], await fixture.ProbeNotesAsync(saga));
        Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(saga));
    }

    [SkippableFact]
    public async Task ADuplicateThatClaimedFirst_DeadlocksWithTheFirstAttempt_BothReplyTheOneCommittedOutcome()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var (saga, lockNote) = (Guid.NewGuid(), Guid.NewGuid());
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Note(Guid.NewGuid(), 1, "lock", lockNote), default));
        var message = new ExecuteStep(saga, "order", 1, "gated", "gated-note", 1, JsonSerializer.SerializeToElement(new { @lock = lockNote }));

        // Attempt 1 (no claim) holds the shared row and waits; attempt 2 claims the step's key, then waits for that row.
        // Released, attempt 1 saves and waits for the key: a deadlock, which PostgreSQL breaks by failing one of them.
        var first = Task.Run(() => fixture.Probe.ExecuteAsync(message, default));
        await fixture.Gates.ReachedAsync(saga).WaitAsync(TimeSpan.FromSeconds(30));
        var second = Task.Run(() => fixture.Probe.ExecuteAsync(message with { Attempt = 2 }, default));
        await Task.Delay(500);
        fixture.Gates.Open(saga);
        var replies = await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(60));

        var outputs = replies.Select(r => Call(Assert.IsType<StepSucceeded>(r))).Distinct().ToList();
        var winner = Assert.Single(outputs);
        Assert.Equal([$"call {winner}"], await fixture.ProbeNotesAsync(saga));
        Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(saga));
    }

    [SkippableFact]
    public async Task BusinessFailureLosingToADuplicateOfTheSameAttempt_RepliesTheCommittedSuccess()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var saga = Guid.NewGuid();
        var message = new ExecuteStep(saga, "order", 1, "gated", "fail-first", 1, Orders.Data());

        // The first call decides to fail and waits; the duplicate (same attempt, also before claiming) succeeds and commits.
        var first = Task.Run(() => fixture.Probe.ExecuteAsync(message, default));
        await fixture.Gates.ReachedAsync(saga).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(message, default).WaitAsync(TimeSpan.FromSeconds(30)));
        fixture.Gates.Open(saga);

        Assert.IsType<StepSucceeded>(await first.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(["succeeded"], await fixture.ProbeNotesAsync(saga));
        Assert.Equal([BarrierOutcomes.Succeeded], await fixture.BarrierOutcomesAsync(saga));
    }

    [SkippableFact]
    public async Task ACollisionInTheHandlersOwnRows_IsRetriedClaimingFirst_ThenRepliedAsTheError()
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var (owner, saga, id) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        Assert.IsType<StepSucceeded>(await fixture.Probe.ExecuteAsync(Note(owner, 1, "owner", id), default));
        var before = fixture.ProbeCommands.Count;

        var reply = await fixture.Probe.ExecuteAsync(Note(saga, 1, "same key", id), default);

        // Not a duplicate of the step: the retry claims the key, meets the same collision, and keeps nothing.
        var failed = Assert.IsType<StepFailed>(reply);
        Assert.True(failed.Retryable);
        Assert.Contains("ON CONFLICT DO NOTHING", string.Join("\n", fixture.ProbeCommands.Since(before)), StringComparison.Ordinal);
        Assert.Empty(await fixture.ProbeNotesAsync(saga));
        Assert.Empty(await fixture.BarrierOutcomesAsync(saga));
        Assert.Equal(["owner"], await fixture.ProbeNotesAsync(owner));
    }

    private static ExecuteStep Note(Guid saga, int attempt, string text, Guid? id = null) =>
        new(saga, "order", 1, "note", "note", attempt, id is { } key ? JsonSerializer.SerializeToElement(new { text, id = key }) : JsonSerializer.SerializeToElement(new { text }));

    private static ExecuteStep Gated(Guid saga) => new(saga, "order", 1, "gated", "gated-note", 1, Orders.Data());

    private static int Call(StepSucceeded reply) => reply.Output!.Value.GetProperty("call").GetInt32();
}
