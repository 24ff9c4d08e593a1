using Microsoft.EntityFrameworkCore;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Messaging;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Runs one event through the Engine inside one database transaction: state, history, inbox and
/// outbox commit together or not at all. Messages leave only after the commit.
/// </summary>
public sealed class SagaProcessor(
    SagasDbFactory dbFactory,
    DefinitionRegistry definitions,
    IOutboxSignal outbox,
    SagaLocks locks,
    TimeProvider clock,
    ILogger<SagaProcessor> logger)
{
    private const int MaxConflictRetries = 20;

    /// <summary>Starts a saga once: the saga id (or the start message's id) is the idempotency key.</summary>
    public async Task<StartResult> StartAsync(StartCommand command, Guid? messageId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(command);
        var definition = await definitions.FindAsync(command.Definition, command.Version, ct);
        if (definition is null)
        {
            var which = command.Version is { } v ? $"{command.Definition}@v{v}" : command.Definition;
            return new StartResult(StartOutcome.UnknownDefinition, command.SagaId, $"definition '{which}' is not registered");
        }

        using var held = await locks.AcquireAsync(command.SagaId, ct);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryStartAsync(definition, command, messageId, ct);
            }
            catch (DbUpdateException ex) when (attempt < MaxConflictRetries)
            {
                // Another coordinator instance inserted the same saga or message id first.
                logger.LogDebug(ex, "Start of saga {SagaId} collided; checking what won", command.SagaId);
                await Backoff(attempt, ct);
            }
        }
    }

    /// <summary>Applies a reply or a timer tick. A message id already in the inbox changes nothing.</summary>
    public async Task<HandleOutcome> HandleAsync(Guid sagaId, Guid? messageId, SagaEvent evt, CancellationToken ct)
    {
        using var held = await locks.AcquireAsync(sagaId, ct);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryHandleAsync(sagaId, messageId, evt, ct);
            }
            catch (DbUpdateException ex) when (attempt < MaxConflictRetries)
            {
                // A concurrent transition on another instance won the version check (or took the
                // inbox row): reload and decide again on the fresh state.
                logger.LogDebug(ex, "Concurrent update of saga {SagaId}, attempt {Attempt}", sagaId, attempt);
                await Backoff(attempt, ct);
            }
        }
    }

    private async Task<StartResult> TryStartAsync(SagaDefinition definition, StartCommand command, Guid? messageId, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var existing = await db.Sagas.AsNoTracking().FirstOrDefaultAsync(s => s.Id == command.SagaId, ct);
        if (existing is not null)
        {
            return string.Equals(existing.Definition, definition.Name, StringComparison.Ordinal)
                ? new StartResult(StartOutcome.AlreadyStarted, existing.Id, null)
                : new StartResult(StartOutcome.Conflict, existing.Id,
                    $"saga {existing.Id} already exists with definition '{existing.Definition}'");
        }

        var decision = SagaEngine.Start(definition, new StartRequest(command.SagaId, command.Data, command.BusinessKey, command.Tenant, command.Deadline), clock.GetUtcNow());
        db.Sagas.Add(decision.Instance);
        var rows = Stage(db, decision, messageId);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        outbox.Enqueue(rows);
        return new StartResult(StartOutcome.Started, command.SagaId, null);
    }

    private async Task<HandleOutcome> TryHandleAsync(Guid sagaId, Guid? messageId, SagaEvent evt, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (messageId is { } id && await db.Inbox.AnyAsync(i => i.MessageId == id, ct))
        {
            return HandleOutcome.Duplicate;
        }

        var saga = await LoadForUpdateAsync(db, sagaId, ct);
        if (saga is null)
        {
            return HandleOutcome.UnknownSaga;
        }

        var definition = await definitions.GetAsync(saga.Definition, saga.Version, ct);
        var decision = SagaEngine.Handle(definition, saga, evt, clock.GetUtcNow());
        if (!decision.Changed && messageId is null)
        {
            return HandleOutcome.NoChange;
        }

        db.Entry(saga).CurrentValues.SetValues(decision.Instance);
        saga.Steps = decision.Instance.Steps;
        var rows = Stage(db, decision, messageId);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        outbox.Enqueue(rows);
        return decision.Changed ? HandleOutcome.Applied : HandleOutcome.NoChange;
    }

    private Task<SagaInstance?> LoadForUpdateAsync(SagasDbContext db, Guid sagaId, CancellationToken ct)
    {
        if (dbFactory.Concurrency == ConcurrencyMode.Pessimistic)
        {
            switch (dbFactory.Provider)
            {
                case DatabaseProvider.Postgres:
                    return db.Sagas.FromSqlInterpolated($"SELECT * FROM sagas WHERE \"Id\" = {sagaId} FOR UPDATE").FirstOrDefaultAsync(ct);
                case DatabaseProvider.SqlServer:
                    return db.Sagas.FromSqlInterpolated($"SELECT * FROM sagas WITH (UPDLOCK, ROWLOCK) WHERE Id = {sagaId}").FirstOrDefaultAsync(ct);
                default:
                    // SQLite transactions are IMMEDIATE: the writer lock is already held.
                    break;
            }
        }

        return db.Sagas.FirstOrDefaultAsync(s => s.Id == sagaId, ct);
    }

    /// <summary>Adds the decision's history, outbox and inbox rows to the unit of work.</summary>
    private List<OutboxRecord> Stage(SagasDbContext db, Decision decision, Guid? messageId)
    {
        var sagaId = decision.Instance.Id;
        var now = clock.GetUtcNow();
        foreach (var entry in decision.History)
        {
            db.History.Add(new HistoryRecord
            {
                SagaId = sagaId,
                Sequence = entry.Sequence,
                At = entry.At,
                Type = entry.Type,
                Step = entry.Step,
                Attempt = entry.Attempt,
                Detail = Truncate(entry.Detail, 4000),
                Actor = entry.Actor,
            });
        }

        var rows = new List<OutboxRecord>(decision.Messages.Count);
        foreach (var message in decision.Messages)
        {
            var row = new OutboxRecord
            {
                MessageId = Guid.NewGuid(),
                SagaId = sagaId,
                Queue = message.Queue,
                MessageType = MessageTypes.NameOf(message.Message),
                Body = MessageTypes.Serialize(message.Message),
                CreatedAt = now,
            };
            db.Outbox.Add(row);
            rows.Add(row);
        }

        if (messageId is { } id)
        {
            db.Inbox.Add(new InboxRecord { MessageId = id, SagaId = sagaId, ReceivedAt = now });
        }

        return rows;
    }

    private static string? Truncate(string? value, int max) => value is null || value.Length <= max ? value : value[..max];

    private static Task Backoff(int attempt, CancellationToken ct) =>
        Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 20 + (Math.Min(attempt, 10) * 10))), ct);
}

/// <summary>A validated start: data is a JSON object's text.</summary>
public sealed record StartCommand(
    Guid SagaId,
    string Definition,
    int? Version,
    string Data,
    string? BusinessKey = null,
    string? Tenant = null,
    TimeSpan? Deadline = null);

public enum StartOutcome
{
    Started,
    AlreadyStarted,
    Conflict,
    UnknownDefinition,
}

public sealed record StartResult(StartOutcome Outcome, Guid SagaId, string? Error);

public enum HandleOutcome
{
    Applied,
    NoChange,
    Duplicate,
    UnknownSaga,
}
