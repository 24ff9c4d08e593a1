using System.Collections.Concurrent;
using System.Threading.Channels;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Contracts;
using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Persistence;
using Sagas.Coordinator.Telemetry;
using Sagas.Participants.Transport;

namespace Sagas.Coordinator.Messaging;

/// <summary>
/// Sends outbox rows after their transaction commits and deletes them once the broker confirmed. Deletes are
/// batched: confirmed ids collect until <see cref="DeleteEarlyAt"/> of them wait or <see cref="DeleteInterval"/>
/// has passed since the last delete, then go in one statement, so a saga costs no commit of its own for them. A
/// sweeper re-sends rows left behind by a crash or an outage (including confirmed rows whose delete had not run
/// yet); receivers dedupe by message id, so a second send is harmless.
/// </summary>
public sealed class OutboxDispatcher(
    IBus bus,
    SagasDbFactory dbFactory,
    IOptions<SagasOptions> options,
    TimeProvider clock,
    TransportOptions transport,
    ILogger<OutboxDispatcher> logger) : BackgroundService, IOutboxSignal
{
    /// <summary>The longest between two deletes while ids wait (well under the sweeper's age, so none is sent again).</summary>
    public static readonly TimeSpan DeleteInterval = TimeSpan.FromSeconds(1);

    /// <summary>This many confirmed ids are deleted without waiting for <see cref="DeleteInterval"/>.</summary>
    public const int DeleteEarlyAt = 500;

    private static readonly TimeSpan DeleteCheck = TimeSpan.FromMilliseconds(100);

    /// <summary>A command about to expire still gets this long in its queue (the broker's clock is not ours).</summary>
    private static readonly TimeSpan MinimumTimeToLive = TimeSpan.FromMilliseconds(500);

    private const int BatchSize = 200;

    /// <summary>Sends handed to the broker and not yet confirmed, at most.</summary>
    private const int MaxSendsInFlight = 1000;
    private const int DeleteBatchSize = 2000;
    private readonly Channel<OutboxRecord> _ready = Channel.CreateUnbounded<OutboxRecord>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentQueue<long> _confirmed = new();

    /// <summary>Hands committed rows over for immediate delivery.</summary>
    public void Enqueue(IReadOnlyList<OutboxRecord> records)
    {
        foreach (var record in records)
        {
            _ready.Writer.TryWrite(record);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(DeliverReadyAsync(stoppingToken), SweepAsync(stoppingToken), DeleteConfirmedAsync(stoppingToken));

    private async Task DeliverReadyAsync(CancellationToken ct)
    {
        // Each row is sent as soon as it is read, without waiting for the confirms of the rows before it. A broker
        // confirms a persistent message once it is on disk or consumed and acknowledged, so a confirm can take as
        // long as the participant's work: waiting for a whole batch's confirms before sending the next rows held
        // every later command behind the earlier ones' processing. The semaphore bounds the sends awaiting a confirm.
        var inFlight = new SemaphoreSlim(MaxSendsInFlight, MaxSendsInFlight);
        try
        {
            var ready = new List<OutboxRecord>();
            while (await _ready.Reader.WaitToReadAsync(ct))
            {
                // What is ready now is usually one group commit's rows: its commands for one participant go together.
                ready.Clear();
                while (ready.Count < BatchSize && _ready.Reader.TryRead(out var record))
                {
                    ready.Add(record);
                }

                foreach (var send in SendUnits(ready, options.Value.CommandBatchSize, options.Value.ParticipantCommandBatchSize))
                {
                    await inFlight.WaitAsync(ct);
                    _ = SendAndReleaseAsync(send, inFlight, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down: rows not yet sent stay in the outbox for the sweeper of the next start.
        }

        // Give the sends still waiting for their confirm a moment to finish, so their rows can be deleted; a row whose
        // confirm does not come in time stays in the outbox and is sent again by the next start's sweeper.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            for (var i = 0; i < MaxSendsInFlight; i++)
            {
                await inFlight.WaitAsync(grace.Token);
            }
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Outbox: stopped with sends still awaiting their confirm; the sweeper of the next start re-sends them");
        }
    }

    /// <summary>
    /// Splits ready rows into broker messages: a participant's commands go together, up to <paramref name="batchSize"/>
    /// (or that participant's own size in <paramref name="byParticipant"/>) in one <see cref="StepCommandBatch"/>;
    /// everything else (and a command alone for its queue, or for a participant whose size is 1) goes by itself.
    /// </summary>
    internal static IEnumerable<IReadOnlyList<OutboxRecord>> SendUnits(IReadOnlyList<OutboxRecord> records, int batchSize, IReadOnlyDictionary<string, int>? byParticipant = null)
    {
        Dictionary<string, List<OutboxRecord>>? byQueue = null;
        foreach (var record in records)
        {
            if (record.Queue is { } queue && IsStepCommand(record.MessageType) && SizeFor(queue) > 1)
            {
                byQueue ??= new Dictionary<string, List<OutboxRecord>>(StringComparer.Ordinal);
                if (!byQueue.TryGetValue(queue, out var list))
                {
                    byQueue[queue] = list = [];
                }

                list.Add(record);
                continue;
            }

            yield return [record];
        }

        if (byQueue is null)
        {
            yield break;
        }

        foreach (var (queue, list) in byQueue)
        {
            foreach (var chunk in list.Chunk(SizeFor(queue)))
            {
                yield return chunk;
            }
        }

        int SizeFor(string queue) => byParticipant is not null && byParticipant.TryGetValue(queue, out var size) ? size : batchSize;
    }

    private static bool IsStepCommand(string messageType) => messageType is nameof(ExecuteStep) or nameof(CompensateStep);

    private async Task SendAndReleaseAsync(IReadOnlyList<OutboxRecord> records, SemaphoreSlim inFlight, CancellationToken ct)
    {
        try
        {
            if (records.Count == 1 ? await TrySendAsync(records[0], ct) : await TrySendBatchAsync(records, ct))
            {
                foreach (var record in records)
                {
                    _confirmed.Enqueue(record.Id);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down: the row stays in the outbox; the next start's sweeper sends it.
        }
        finally
        {
            inFlight.Release();
        }
    }

    private async Task SweepAsync(CancellationToken ct)
    {
        var interval = TimeSpan.FromTicks(Math.Max(options.Value.OutboxSweepAge.Ticks / 2, TimeSpan.FromMilliseconds(200).Ticks));
        using var timer = new PeriodicTimer(interval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    var cutoff = clock.GetUtcNow() - options.Value.OutboxSweepAge;
                    List<OutboxRecord> stale;
                    await using (var db = dbFactory.Create())
                    {
                        stale = await db.Outbox.AsNoTracking().Where(o => o.CreatedAt < cutoff)
                            .OrderBy(o => o.Id).Take(BatchSize).ToListAsync(ct);
                    }

                    if (stale.Count > 0)
                    {
                        logger.LogInformation("Outbox sweeper re-sending {Count} message(s) older than {Age}", stale.Count, options.Value.OutboxSweepAge);
                        await SendBatchAsync(stale, ct);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The database or broker is down: the rows are safe in the outbox, try on the next tick.
                    logger.LogWarning(ex, "Outbox sweep failed; will try again");
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task SendBatchAsync(List<OutboxRecord> batch, CancellationToken ct)
    {
        // All at once: each send waits for its publisher confirm, and the broker confirms many in one go. Order
        // between rows does not matter: a saga's next command is only written after the reply to its previous one.
        var delivered = await Task.WhenAll(batch.Select(record => TrySendAsync(record, ct)));
        for (var i = 0; i < batch.Count; i++)
        {
            if (delivered[i])
            {
                _confirmed.Enqueue(batch[i].Id);
            }
        }
    }

    private async Task DeleteConfirmedAsync(CancellationToken ct)
    {
        // One delete a second at most when idle or lightly loaded: each is a commit (the benchmark counts them). Under
        // load the count threshold keeps the statements (and the outbox table) small.
        using var timer = new PeriodicTimer(DeleteCheck, clock);
        var last = clock.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (_confirmed.IsEmpty || (_confirmed.Count < DeleteEarlyAt && clock.GetElapsedTime(last) < DeleteInterval))
                {
                    continue;
                }

                await DeleteBatchesAsync(ct);
                last = clock.GetTimestamp();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down: one last pass, so a clean stop leaves nothing to re-send.
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await DeleteBatchesAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                // The sweeper of the next start re-sends what is left; receivers dedupe.
            }
        }
    }

    private async Task DeleteBatchesAsync(CancellationToken ct)
    {
        var ids = new List<long>(Math.Min(_confirmed.Count, DeleteBatchSize));
        while (true)
        {
            ids.Clear();
            while (ids.Count < DeleteBatchSize && _confirmed.TryDequeue(out var id))
            {
                ids.Add(id);
            }

            if (ids.Count == 0)
            {
                return;
            }

            try
            {
                await using var db = dbFactory.Create();
                await db.Outbox.Where(o => ids.Contains(o.Id)).ExecuteDeleteAsync(ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Kept for the next pass; meanwhile the sweeper may send them again, which receivers dedupe.
                logger.LogWarning(ex, "Deleting {Count} sent outbox rows failed; will try again", ids.Count);
                foreach (var id in ids)
                {
                    _confirmed.Enqueue(id);
                }

                return;
            }
        }
    }

    private async Task<bool> TrySendAsync(OutboxRecord record, CancellationToken ct)
    {
        try
        {
            await SendAsync(record, ct);
            if (options.Value.DuplicateDelivery)
            {
                await SendAsync(record, ct);
            }

            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Sending outbox message {MessageId} ({Type}) for saga {SagaId} failed; the sweeper will retry",
                record.MessageId, record.MessageType, record.SagaId);
            return false;
        }
    }

    /// <summary>
    /// Sends commands for one queue as one <see cref="StepCommandBatch"/>; each keeps its row's message id. Commands
    /// already expired are left out (as one alone is not sent); the batch lives in the queue as long as its
    /// longest-lived command (written together, they have much the same).
    /// </summary>
    private async Task<bool> TrySendBatchAsync(IReadOnlyList<OutboxRecord> records, CancellationToken ct)
    {
        var activities = new List<System.Diagnostics.Activity>(records.Count);
        try
        {
            var now = clock.GetUtcNow();
            var live = new List<(OutboxRecord Record, object Message)>(records.Count);
            TimeSpan? timeToLive = TimeSpan.Zero;
            foreach (var record in records)
            {
                var message = record.Message ?? MessageTypes.Deserialize(record.MessageType, record.Body);
                var remaining = ExpiresAt(message) - now;
                if (remaining <= TimeSpan.Zero)
                {
                    logger.LogDebug("Outbox message {MessageId} ({Type}) for saga {SagaId} expired before it was sent; not sent",
                        record.MessageId, record.MessageType, record.SagaId);
                    continue;
                }

                timeToLive = remaining is null || timeToLive is null ? null : remaining > timeToLive ? remaining : timeToLive;
                live.Add((record, message));
            }

            if (live.Count <= 1)
            {
                return live.Count == 0 || await TrySendAsync(live[0].Record, ct);
            }

            // Each command keeps its send span in its saga's trace; the batch's own send span is in none of them.
            var previous = System.Diagnostics.Activity.Current;
            var items = new List<BatchedStepCommand>(live.Count);
            foreach (var (record, message) in live)
            {
                items.Add(message switch
                {
                    ExecuteStep execute => new BatchedStepCommand(record.MessageId, Execute: execute),
                    CompensateStep compensate => new BatchedStepCommand(record.MessageId, Compensate: compensate),
                    _ => throw new InvalidOperationException($"{record.MessageType} cannot go in a command batch"),
                });
                if (SagasDiagnostics.StartSend(record.SagaId, message) is { } activity)
                {
                    activities.Add(activity);
                }
            }

            System.Diagnostics.Activity.Current = previous;
            var batch = new StepCommandBatch(items);
            var messageId = NewId.NextGuid();
            var endpoint = await bus.GetSendEndpoint(transport.AddressOf(records[0].Queue!));
            var pipe = Pipe.Execute<SendContext>(context =>
            {
                context.MessageId = messageId;
                if (timeToLive is { } ttl)
                {
                    context.TimeToLive = ttl < MinimumTimeToLive ? MinimumTimeToLive : ttl;
                }
            });
            await endpoint.Send(batch, pipe, ct);
            if (options.Value.DuplicateDelivery)
            {
                await endpoint.Send(batch, pipe, ct);
            }

            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Sending a batch of {Count} commands to {Queue} failed; the sweeper will retry", records.Count, records[0].Queue);
            return false;
        }
        finally
        {
            for (var i = activities.Count - 1; i >= 0; i--)
            {
                activities[i].Dispose();
            }
        }
    }

    private static DateTimeOffset? ExpiresAt(object message) => message switch
    {
        ExecuteStep execute => execute.ExpiresAt,
        CompensateStep compensate => compensate.ExpiresAt,
        _ => null,
    };

    private async Task SendAsync(OutboxRecord record, CancellationToken ct)
    {
        var message = record.Message ?? MessageTypes.Deserialize(record.MessageType, record.Body);
        var type = message.GetType();

        // A command lives in its queue only until the coordinator stops waiting for it: after that a later attempt or
        // the compensation supersedes it. Without this, a participant that fell behind works through copies nobody
        // waits for while every new attempt times out behind them, and the backlog only grows (seen in a long chaos run).
        var timeToLive = ExpiresAt(message) - clock.GetUtcNow();
        if (timeToLive <= TimeSpan.Zero)
        {
            logger.LogDebug("Outbox message {MessageId} ({Type}) for saga {SagaId} expired before it was sent; not sent",
                record.MessageId, record.MessageType, record.SagaId);
            return;
        }

        using var activity = SagasDiagnostics.StartSend(record.SagaId, message);
        void Stamp(SendContext context)
        {
            context.MessageId = record.MessageId;
            context.Headers.Set(Endpoints.SagaIdHeader, record.SagaId.ToString());
            if (timeToLive is { } ttl)
            {
                context.TimeToLive = ttl < MinimumTimeToLive ? MinimumTimeToLive : ttl;
            }
        }

        if (record.Queue is null)
        {
            await bus.Publish(message, type, Stamp, ct);
            return;
        }

        var endpoint = await bus.GetSendEndpoint(transport.AddressOf(record.Queue));
        await endpoint.Send(message, type, Stamp, ct);
    }
}

/// <summary>Hands rows of a committed transaction to whatever delivers them.</summary>
public interface IOutboxSignal
{
    void Enqueue(IReadOnlyList<OutboxRecord> records);
}
