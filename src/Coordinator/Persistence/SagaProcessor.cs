using Microsoft.EntityFrameworkCore;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Telemetry;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Runs one event through the Engine inside one database transaction: state, history, inbox and
/// outbox commit together or not at all. Messages leave only after the commit.
/// </summary>
public sealed partial class SagaProcessor(
    SagasDbFactory dbFactory,
    DefinitionRegistry definitions,
    IOutboxSignal outbox,
    TimerSignal timers,
    SagaLocks locks,
    OutgoingPayloads payloads,
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

        using var scope = SagasDiagnostics.BeginSagaScope(logger, command.SagaId, null);
        using var activity = SagasDiagnostics.StartSaga(command.SagaId, definition.Name);
        using var held = await locks.AcquireAsync(command.SagaId, ct);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                // The first try assumes a new saga; a duplicate start fails on the saga's (or the inbox's) key, and the
                // next try looks at what is there. A round trip less for every start that is not a duplicate.
                if (attempt == 1 && dbFactory.MaxBatch > 1)
                {
                    if (await BatchAsync(new Pending(command.SagaId, messageId, null, command, definition), ct) is StartResult batched)
                    {
                        return batched;
                    }

                    // The batch it was in failed as a whole: alone now, looking first.
                    continue;
                }

                return await TryStartAsync(definition, command, messageId, lookFirst: attempt > 1, ct);
            }
            catch (Exception ex) when (Forget(command.SagaId) && attempt < MaxConflictRetries && TransientDatabaseErrors.IsConflict(ex))
            {
                // Another coordinator instance inserted the same saga or message id first.
                logger.LogDebug(ex, "Start of saga {SagaId} collided; checking what won", command.SagaId);
                await Backoff(attempt, ct);
            }
        }
    }

    /// <summary>Applies a reply or a timer tick. A message id already in the inbox changes nothing.</summary>
    public async Task<HandleOutcome> HandleAsync(Guid sagaId, Guid? messageId, SagaEvent evt, CancellationToken ct) =>
        (await ProcessAsync(sagaId, messageId, evt, ct)).Outcome;

    /// <summary>Applies an operator action; a rejection (the action does not fit the state) changes nothing and says why.</summary>
    public Task<HandleResult> OperateAsync(Guid sagaId, Guid? messageId, OperatorCommand command, CancellationToken ct) =>
        ProcessAsync(sagaId, messageId, new SagaEvent.Operator(command), ct);

    private async Task<HandleResult> ProcessAsync(Guid sagaId, Guid? messageId, SagaEvent evt, CancellationToken ct)
    {
        using var scope = SagasDiagnostics.BeginSagaScope(logger, sagaId, SagasDiagnostics.StepOf(evt).Step);
        using var activity = SagasDiagnostics.StartHandle(sagaId, evt);
        using var held = await locks.AcquireAsync(sagaId, ct);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                // Replies are checked against the inbox only on a second try: a duplicate fails on the inbox key when it
                // is saved, which rolls everything back. A round trip less for every reply that is not a duplicate.
                // Operator actions look first, so a repeated one reads "duplicate" rather than a rejection.
                if (attempt == 1 && dbFactory.MaxBatch > 1 && evt is not SagaEvent.Operator)
                {
                    if (await BatchAsync(new Pending(sagaId, messageId, evt, null, null), ct) is HandleResult batched)
                    {
                        return batched;
                    }

                    // The batch it was in failed as a whole: alone now, looking at the inbox first.
                    continue;
                }

                return await TryHandleAsync(sagaId, messageId, evt, checkInbox: attempt > 1 || evt is SagaEvent.Operator, ct);
            }
            catch (Exception ex) when (Forget(sagaId) && attempt < MaxConflictRetries && TransientDatabaseErrors.IsConflict(ex))
            {
                // A concurrent transition on another instance won the version check (or took the inbox row, or the
                // database chose this side to break a deadlock): reload and decide again on the fresh state.
                logger.LogDebug(ex, "Concurrent update of saga {SagaId}, attempt {Attempt}", sagaId, attempt);
                await Backoff(attempt, ct);
            }
        }
    }

    private async Task<StartResult> TryStartAsync(SagaDefinition definition, StartCommand command, Guid? messageId, bool lookFirst, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (lookFirst && await db.Sagas.AsNoTracking().Where(s => s.Id == command.SagaId).Select(s => s.Definition).FirstOrDefaultAsync(ct) is { } existing)
        {
            return string.Equals(existing, definition.Name, StringComparison.Ordinal)
                ? new StartResult(StartOutcome.AlreadyStarted, command.SagaId, null)
                : new StartResult(StartOutcome.Conflict, command.SagaId,
                    $"saga {command.SagaId} already exists with definition '{existing}'");
        }

        var staged = await StageStartAsync(db, definition, command, messageId, ct);
        await SaveAsync(db, ct);
        await tx.CommitAsync(ct);
        Publish(staged);
        return new StartResult(StartOutcome.Started, command.SagaId, null);
    }

    /// <summary>Adds a new saga with its history, event, outbox and inbox rows to the unit of work.</summary>
    private async Task<Staged> StageStartAsync(SagasDbContext db, SagaDefinition definition, StartCommand command, Guid? messageId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var request = new StartRequest(command.SagaId, command.Data, command.BusinessKey, command.Tenant, command.Deadline);
        var decision = SagaEngine.Start(definition, request, now);
        db.Sagas.Add(decision.Instance);
        StageTimer(db, command.SagaId, null, decision.Instance.NextWakeAt, now);
        var rows = await StageAsync(db, decision, messageId, ct);
        RecordEvent(db, decision.Instance, now, SagaEventCodec.Encode(request));
        return new Staged(decision, rows, Started: true);
    }

    private async Task<HandleResult> TryHandleAsync(Guid sagaId, Guid? messageId, SagaEvent evt, bool checkInbox, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (checkInbox && messageId is { } id && await db.Inbox.AnyAsync(i => i.MessageId == id, ct))
        {
            return new HandleResult(HandleOutcome.Duplicate);
        }

        var saga = await LoadForUpdateAsync(db, sagaId, ct);
        if (saga is null)
        {
            return new HandleResult(HandleOutcome.UnknownSaga);
        }

        var (result, staged) = await StageEventAsync(db, saga, messageId, evt, ct);
        if (staged is null)
        {
            return result;
        }

        await SaveAsync(db, ct);
        await tx.CommitAsync(ct);
        Publish(staged);
        return result;
    }

    /// <summary>
    /// Feeds the event to the Engine and adds the new state with its history, event, outbox, inbox and compensation
    /// rows to the unit of work. Staged is null when there is nothing to write (a rejection, or a tick that changed nothing).
    /// </summary>
    private async Task<(HandleResult Result, Staged? Staged)> StageEventAsync(SagasDbContext db, SagaInstance saga, Guid? messageId, SagaEvent evt, CancellationToken ct)
    {
        var definition = await definitions.GetAsync(saga.Definition, saga.Version, ct);
        var now = clock.GetUtcNow();
        var wokeAt = saga.NextWakeAt;
        var decision = SagaEngine.Handle(definition, saga, evt, now);
        if (decision.Rejection is { } rejection)
        {
            return (new HandleResult(HandleOutcome.Rejected, rejection), null);
        }

        if (!decision.Changed && messageId is null)
        {
            // A tick that found nothing due came from a timer row left early (see StageTimer): move the row to the saga's
            // wake-up. The saga's row is written too, unchanged but under its version check, so a transition committed
            // meanwhile on another instance (with its own timer write) makes this one start again rather than undo it.
            if (evt is SagaEvent.Tick && await TimerRowAsync(db, saga.Id, ct) is var row && row != saga.NextWakeAt)
            {
                db.Entry(saga).Property(s => s.ConcurrencyVersion).IsModified = true;
                SetTimer(db, saga.Id, row, saga.NextWakeAt);
                return (new HandleResult(HandleOutcome.NoChange, Note: decision.Note), new Staged(decision, [], Started: false));
            }

            return (new HandleResult(HandleOutcome.NoChange, Note: decision.Note), null);
        }

        db.Entry(saga).CurrentValues.SetValues(decision.Instance);
        saga.Steps = decision.Instance.Steps;
        saga.Deferred = decision.Instance.Deferred;
        saga.Signals = decision.Instance.Signals;
        StageTimer(db, saga.Id, wokeAt, decision.Instance.NextWakeAt, now);
        var rows = await StageAsync(db, decision, messageId, ct);
        if (decision.Changed)
        {
            RecordEvent(db, decision.Instance, now, SagaEventCodec.Encode(evt));
        }

        await SyncCompensationsAsync(db, decision.Instance, ct);
        return (new HandleResult(decision.Changed ? HandleOutcome.Applied : HandleOutcome.NoChange, Note: decision.Note), new Staged(decision, rows, Started: false));
    }

    /// <summary>
    /// Writes the unit of work: on PostgreSQL through <see cref="PostgresBatchWriter"/> (fewer allocations, and the saga
    /// row is locked before the saga's other rows, as in a group commit), else, or for rows it cannot write, SaveChanges.
    /// </summary>
    private async Task SaveAsync(SagasDbContext db, CancellationToken ct)
    {
        if (!dbFactory.DirectWrites || !await PostgresBatchWriter.TryWriteAsync(db, ct))
        {
            await db.SaveChangesAsync(ct);
        }
    }

    /// <summary>After the commit: counts the transition, hands its messages to the outbox and its next wake-up to the timers.</summary>
    private void Publish(Staged staged)
    {
        _cache.Remember(staged.Decision.Instance);
        if (staged.Started)
        {
            SagasDiagnostics.RecordStarted(staged.Decision.Instance.Definition);
        }
        else
        {
            SagasDiagnostics.RecordTransition(staged.Decision);
        }

        outbox.Enqueue(staged.Rows);
        timers.Notify(staged.Decision.Instance.NextWakeAt);
    }

    /// <summary>
    /// Keeps the saga's timer row at or before its NextWakeAt (a row exists exactly while it is set), without reading
    /// it: the row's state follows from the saga's previous NextWakeAt, which was committed with it. A wake-up that moves
    /// later leaves the row where it is unless it is due: most transitions push the wake-up out (the next step's
    /// timeout), and rewriting the row each time costs a non-HOT update of a two-index row, where a row left early
    /// costs, only if the saga is still waiting then, one tick that finds nothing due and moves it.
    /// </summary>
    private static void StageTimer(SagasDbContext db, Guid sagaId, DateTimeOffset? was, DateTimeOffset? next, DateTimeOffset now)
    {
        if (was == next || (was is { } before && next is { } after && after > before && before > now))
        {
            return;
        }

        SetTimer(db, sagaId, was, next);
    }

    /// <summary>Moves the saga's timer row from <paramref name="row"/> (null: there is none) to <paramref name="next"/> (null: none).</summary>
    private static void SetTimer(SagasDbContext db, Guid sagaId, DateTimeOffset? row, DateTimeOffset? next)
    {
        if (row == next)
        {
            return;
        }

        if (row is null)
        {
            db.Timers.Add(new SagaTimerRecord { SagaId = sagaId, WakeAt = next!.Value });
        }
        else if (next is null)
        {
            db.Timers.Remove(new SagaTimerRecord { SagaId = sagaId, WakeAt = row.Value });
        }
        else
        {
            db.Timers.Update(new SagaTimerRecord { SagaId = sagaId, WakeAt = next.Value });
        }
    }

    private static Task<DateTimeOffset?> TimerRowAsync(SagasDbContext db, Guid sagaId, CancellationToken ct) =>
        db.Timers.AsNoTracking().Where(t => t.SagaId == sagaId).Select(t => (DateTimeOffset?)t.WakeAt).FirstOrDefaultAsync(ct);

    /// <summary>Keeps the input that produced this version of the saga, so the saga can be replayed.</summary>
    private static void RecordEvent(SagasDbContext db, SagaInstance saga, DateTimeOffset at, (string Kind, string Json) evt) =>
        db.Events.Add(new SagaEventRecord { SagaId = saga.Id, Version = saga.ConcurrencyVersion, AtTicks = at.UtcTicks, Kind = evt.Kind, Json = evt.Json });

    /// <summary>Keeps one audit row per compensated (or compensating) step in line with the saga, in the same transaction.</summary>
    private static async Task SyncCompensationsAsync(SagasDbContext db, SagaInstance saga, CancellationToken ct)
    {
        var touched = saga.Steps.Where(s => s.CompensationStartedAt is not null).ToList();
        if (touched.Count == 0)
        {
            return;
        }

        var existing = await db.Compensations.Where(c => c.SagaId == saga.Id).ToDictionaryAsync(c => c.Step, StringComparer.Ordinal, ct);
        foreach (var step in touched)
        {
            if (!existing.TryGetValue(step.Name, out var record))
            {
                record = new CompensationRecord { SagaId = saga.Id, Step = step.Name, StartedAt = step.CompensationStartedAt!.Value };
                db.Compensations.Add(record);
            }

            record.Definition = saga.Definition;
            record.Version = saga.Version;
            record.Tenant = saga.Tenant;
            record.Trigger = saga.CompensationTrigger ?? "";
            record.Attempts = step.CompensationAttempts;
            record.Outcome = step.Status switch
            {
                StepStatus.Compensated => CompensationOutcomes.Succeeded,
                StepStatus.CompensationFailed => CompensationOutcomes.Failed,
                StepStatus.CompensationSkipped => CompensationOutcomes.Skipped,
                _ => CompensationOutcomes.Pending,
            };
            record.LastError = step.Status == StepStatus.Compensated ? record.LastError : step.LastError;
            record.UpdatedAt = saga.UpdatedAt;
            record.CompletedAt = record.Outcome == CompensationOutcomes.Pending ? null : step.CompensatedAt ?? saga.UpdatedAt;
        }
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

    /// <summary>Adds the decision's history, outbox and inbox rows (and the claims the outbox rows refer to) to the unit of work.</summary>
    private async ValueTask<List<OutboxRecord>> StageAsync(SagasDbContext db, Decision decision, Guid? messageId, CancellationToken ct)
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
        var encoder = payloads.IsActive ? payloads.BeginDecision(db, sagaId) : null;
        foreach (var message in decision.Messages)
        {
            var outgoing = encoder is null ? message.Message : await encoder.EncodeAsync(message.Message, ct);
            var row = new OutboxRecord
            {
                MessageId = Guid.NewGuid(),
                SagaId = sagaId,
                Queue = message.Queue,
                MessageType = MessageTypes.NameOf(outgoing),
                Body = MessageTypes.Serialize(outgoing),
                CreatedAt = now,
                Message = outgoing,
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

    /// <summary>
    /// A try failed: the saga's cached copy (if any) may be stale or may not have committed. Always true, so that it can
    /// run in an exception filter, for every failure, retried or not.
    /// </summary>
    private bool Forget(Guid sagaId)
    {
        _cache.Forget(sagaId);
        return true;
    }

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

    /// <summary>An operator action that does not fit the saga's state; nothing was applied.</summary>
    Rejected,
}

public sealed record HandleResult(HandleOutcome Outcome, string? Rejection = null, string? Note = null);
