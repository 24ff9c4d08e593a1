using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Sagas.Contracts;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Sagas.Coordinator.Retention;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Retention selects finished sagas first and deletes them afterwards. A saga that changes in between (an operator
/// action, a late message) must survive with all its rows. On PostgreSQL the test holds the saga's row lock while
/// the retention batch starts deleting, changes the saga and commits, and only then lets the batch go on.
/// </summary>
public sealed class RetentionRaceScenarios : IDisposable
{
    private static readonly string[] Steps = ["reserve-stock", "charge-payment", "book-shipment"];

    private StandaloneStore? _store;

    public void Dispose() => _store?.Dispose();

    [Fact]
    public async Task Purge_SagaChangedWhileBatchWaitsForItsRow_KeptWithItsRowsAndOthersDeleted()
    {
        _store = await StandaloneStore.CreateAsync(DatabaseProvider.Postgres);
        var processor = _store.NewProcessor(new DiscardingOutbox());
        var changed = Guid.NewGuid();
        var other = Guid.NewGuid();
        foreach (var id in new[] { changed, other })
        {
            await processor.StartAsync(new StartCommand(id, TestDefinitions.Fast, null, """{"orderId":"o"}"""), null, default);
            foreach (var step in Steps)
            {
                var reply = SagaEvent.From(new StepSucceeded(id, step, 1, JsonSerializer.SerializeToElement(new { step })));
                Assert.Equal(HandleOutcome.Applied, await processor.HandleAsync(id, Guid.NewGuid(), reply, default));
            }
        }

        int history;
        await using (var db = _store.Factory.Create())
        {
            // Nothing is sent here, so the outbox rows that would hold retention back are cleared by hand.
            await db.Outbox.ExecuteDeleteAsync();
            Assert.Equal(2, await db.Sagas.CountAsync(s => s.State == SagaState.Completed));
            history = await db.History.CountAsync(h => h.SagaId == changed);
            Assert.True(history > 0);
        }

        // An hour from now, both sagas are past a one-minute retention.
        var retention = new RetentionService(
            _store.Factory,
            Options.Create(new RetentionOptions { KeepFor = TimeSpan.FromMinutes(1), BatchSize = 10 }),
            new ShiftedTime(TimeSpan.FromHours(1)),
            NullLogger<RetentionService>.Instance);

        await using var holder = new NpgsqlConnection(_store.Connection);
        await holder.OpenAsync();
        await using var tx = await holder.BeginTransactionAsync();
        await ExecuteAsync(holder, tx, """SELECT 1 FROM sagas WHERE "Id" = @id FOR UPDATE""", changed);

        var purge = retention.PurgeAsync(CancellationToken.None);
        await WaitForLockWaitAsync(_store.Connection, purge);

        // The saga changes after retention selected it: its last change is now after the cutoff.
        await ExecuteAsync(holder, tx, """UPDATE sagas SET "UpdatedAt" = now() + interval '1 day' WHERE "Id" = @id""", changed);
        await tx.CommitAsync();

        var deleted = await purge.WaitAsync(TimeSpan.FromSeconds(30));

        await using var check = _store.Factory.Create();
        Assert.True(await check.Sagas.AnyAsync(s => s.Id == changed), "the saga that changed after the selection was deleted");
        Assert.Equal(history, await check.History.CountAsync(h => h.SagaId == changed));
        Assert.False(await check.Sagas.AnyAsync(s => s.Id == other), "the saga that did not change was kept");
        Assert.False(await check.History.AnyAsync(h => h.SagaId == other), "the deleted saga's history is still there");
        Assert.Equal(1, deleted);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, Guid id)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        command.Parameters.AddWithValue("id", id);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Waits until a session of the test's database waits for a row lock (the retention batch's delete).</summary>
    private static async Task WaitForLockWaitAsync(string connectionString, Task purge)
    {
        await using var watcher = new NpgsqlConnection(connectionString);
        await watcher.OpenAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(purge.IsCompleted, "retention finished without waiting for the locked saga row");
            await using var command = new NpgsqlCommand(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", watcher);
            if ((long)(await command.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail("retention never waited for the locked saga row");
    }

    private sealed class ShiftedTime(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }
}
