using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;
using Sagas.Contracts;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// The timer poller finds due sagas through saga_timers, one row per saga whose NextWakeAt is set, at or before it. These
/// tests hold the row to the saga through a saga's life and across the migration that introduced it, on PostgreSQL and SQLite,
/// and check on PostgreSQL that a transition which only moves the wake-up is a HOT update of the saga row.
/// </summary>
public sealed class TimerTableScenarios : IDisposable
{
    private const string BeforeTimers = "PayloadClaims";

    private static readonly string[] Steps = ["reserve-stock", "charge-payment", "book-shipment"];

    private readonly List<StandaloneStore> _stores = [];

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }
    }

    /// <summary>
    /// Each reply starts the next step's timeout, later than the row: the row is left where it is (a lower bound, not
    /// rewritten on every transition) and goes with the saga's end.
    /// </summary>
    [Theory]
    [InlineData(DatabaseProvider.Postgres)]
    [InlineData(DatabaseProvider.Sqlite)]
    public async Task Transitions_WakeUpMovesLater_TimerRowStaysAtFirstWakeUpAndGoesAtTheEnd(DatabaseProvider provider)
    {
        var (processor, factory, replayer) = await CreateAsync(provider);
        var id = Guid.NewGuid();

        await processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        var first = await AssertTimerMatchesAsync(factory, id);
        foreach (var step in Steps[..^1])
        {
            await Task.Delay(5);
            await ReplyAsync(processor, id, step);

            await using var db = factory.Create();
            var wake = (await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id)).NextWakeAt;
            Assert.True(wake > first, $"after {step}: wake-up {wake:O} is not after {first:O}");
            Assert.Equal(first, (await db.Timers.AsNoTracking().SingleAsync(t => t.SagaId == id)).WakeAt);
            Assert.Empty(await replayer.VerifyAsync(id, default));
        }

        await ReplyAsync(processor, id, Steps[^1]);
        await using (var db = factory.Create())
        {
            Assert.Equal(SagaState.Completed, (await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id)).State);
            Assert.False(await db.Timers.AnyAsync(t => t.SagaId == id), "a finished saga still has a timer row");
        }

        Assert.Empty(await replayer.VerifyAsync(id, default));
    }

    /// <summary>A row left early fires a tick that finds nothing due: the tick moves the row to the wake-up and changes nothing else.</summary>
    [Theory]
    [InlineData(DatabaseProvider.Postgres)]
    [InlineData(DatabaseProvider.Sqlite)]
    public async Task Tick_TimerRowEarlierThanWakeUp_RowMovedToWakeUpAndSagaUnchanged(DatabaseProvider provider)
    {
        var (processor, factory, replayer) = await CreateAsync(provider);
        var id = Guid.NewGuid();
        await processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        await ReplyAsync(processor, id, Steps[0]);
        SagaInstance before;
        await using (var db = factory.Create())
        {
            before = await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id);
            await db.Timers.Where(t => t.SagaId == id).ExecuteUpdateAsync(u => u.SetProperty(t => t.WakeAt, DateTimeOffset.UtcNow.AddSeconds(-1)));
        }

        Assert.Equal(HandleOutcome.NoChange, await processor.HandleAsync(id, null, new SagaEvent.Tick(), default));

        await using (var db = factory.Create())
        {
            var after = await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id);
            Assert.Equal((before.ConcurrencyVersion, before.HistorySequence, before.NextWakeAt), (after.ConcurrencyVersion, after.HistorySequence, after.NextWakeAt));
            Assert.Equal(before.NextWakeAt, (await db.Timers.AsNoTracking().SingleAsync(t => t.SagaId == id)).WakeAt);
        }

        // Once in place, another tick finds nothing to move.
        Assert.Equal(HandleOutcome.NoChange, await processor.HandleAsync(id, null, new SagaEvent.Tick(), default));
        Assert.Empty(await replayer.VerifyAsync(id, default));
    }

    /// <summary>A tick that fires a due timeout moves the row to the new wake-up (later): a row left due would tick again at once.</summary>
    [Theory]
    [InlineData(DatabaseProvider.Postgres)]
    [InlineData(DatabaseProvider.Sqlite)]
    public async Task Tick_StepTimedOut_RowMovesToTheRetrysWakeUp(DatabaseProvider provider)
    {
        var (processor, factory, replayer) = await CreateAsync(provider);
        var id = Guid.NewGuid();
        await processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        var first = await AssertTimerMatchesAsync(factory, id);

        await Task.Delay(first - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(100));
        Assert.Equal(HandleOutcome.Applied, await processor.HandleAsync(id, null, new SagaEvent.Tick(), default));

        var next = await AssertTimerMatchesAsync(factory, id);
        Assert.True(next > first, $"the row is still at {first:O}");
        await using (var db = factory.Create())
        {
            Assert.Contains(await db.History.AsNoTracking().Where(h => h.SagaId == id).Select(h => h.Type).ToListAsync(), t => t == HistoryTypes.StepTimedOut);
        }

        Assert.Empty(await replayer.VerifyAsync(id, default));
    }

    [Fact]
    public async Task Transitions_OnlyWakeUpAndStepsChange_SagaRowUpdatedWithoutIndexWrites()
    {
        var (processor, _, _) = await CreateAsync(DatabaseProvider.Postgres);
        var server = _stores[^1].Connection;
        var id = Guid.NewGuid();

        await processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
        foreach (var step in Steps)
        {
            await ReplyAsync(processor, id, step);
        }

        // Three updates: the first two move the saga to its next step (HOT: no indexed column changes), the last one
        // completes it (State is in the search indexes). A backend publishes its counters to pg_stat at most once a
        // second and, when idle, up to 10 s later; closing the processor's connections publishes them on exit.
        _stores[^1].ClearPostgresPool();
        await using var connection = new NpgsqlConnection(server);
        await connection.OpenAsync();
        long updates = 0, hot = 0;
        for (var i = 0; i < 300 && updates < 3; i++)
        {
            await using var command = new NpgsqlCommand(
                "SELECT pg_stat_clear_snapshot(); SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sagas'", connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.NextResultAsync();
            await reader.ReadAsync();
            (updates, hot) = (reader.GetInt64(0), reader.GetInt64(1));
            await Task.Delay(100);
        }

        Assert.Equal(3, updates);
        Assert.True(hot >= 2, $"only {hot} of the saga's {updates} updates were HOT");
    }

    [Theory]
    [InlineData(DatabaseProvider.Postgres)]
    [InlineData(DatabaseProvider.Sqlite)]
    public async Task Migrate_FromBeforeTimerTable_WaitingSagaKeepsItsWakeUp(DatabaseProvider provider)
    {
        var (processor, factory, replayer) = await CreateAsync(provider);
        var waiting = Guid.NewGuid();
        var finished = Guid.NewGuid();
        await processor.StartAsync(new StartCommand(waiting, TestDefinitions.Fast, null, """{"orderId":"w"}"""), null, default);
        await processor.StartAsync(new StartCommand(finished, TestDefinitions.Fast, null, """{"orderId":"f"}"""), null, default);
        foreach (var step in Steps)
        {
            await ReplyAsync(processor, finished, step);
        }

        // Back to the schema before saga_timers (the wake-up only in sagas), then forward again as an upgrade would.
        await using (var db = factory.Create())
        {
            var migrator = db.GetService<IMigrator>();
            await migrator.MigrateAsync(db.Database.GetMigrations().Single(m => m.EndsWith("_" + BeforeTimers, StringComparison.Ordinal)));
            Assert.DoesNotContain(await db.Database.GetAppliedMigrationsAsync(), m => m.EndsWith("_SagaTimers", StringComparison.Ordinal));
            await migrator.MigrateAsync();
        }

        await using (var db = factory.Create())
        {
            Assert.Equal([waiting], await db.Timers.Select(t => t.SagaId).ToListAsync());
        }

        await AssertTimerMatchesAsync(factory, waiting);
        Assert.Empty(await replayer.VerifyAsync(waiting, default));
        Assert.Empty(await replayer.VerifyAsync(finished, default));
    }

    private static async Task ReplyAsync(SagaProcessor processor, Guid id, string step) =>
        Assert.Equal(HandleOutcome.Applied, await processor.HandleAsync(id, Guid.NewGuid(), SagaEvent.From(new StepSucceeded(id, step, 1, JsonSerializer.SerializeToElement(new { step }))), default));

    /// <summary>The saga's timer row holds exactly its NextWakeAt; returns it.</summary>
    private static async Task<DateTimeOffset> AssertTimerMatchesAsync(SagasDbFactory factory, Guid id)
    {
        await using var db = factory.Create();
        var saga = await db.Sagas.AsNoTracking().SingleAsync(s => s.Id == id);
        var timer = await db.Timers.AsNoTracking().SingleOrDefaultAsync(t => t.SagaId == id);
        Assert.NotNull(saga.NextWakeAt);
        Assert.NotNull(timer);
        Assert.Equal(saga.NextWakeAt, timer.WakeAt);
        return timer.WakeAt;
    }

    private async Task<(SagaProcessor Processor, SagasDbFactory Factory, SagaReplayer Replayer)> CreateAsync(DatabaseProvider provider)
    {
        var store = await StandaloneStore.CreateAsync(provider);
        _stores.Add(store);
        return (store.NewProcessor(new DiscardingOutbox()), store.Factory, new SagaReplayer(store.Factory, store.NewRegistry()));
    }
}
