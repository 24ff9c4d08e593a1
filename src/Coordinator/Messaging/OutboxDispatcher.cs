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
/// Sends outbox rows after their transaction commits and deletes them once the broker confirmed.
/// A sweeper re-sends rows left behind by a crash or an outage; receivers dedupe by message id,
/// so a second send is harmless.
/// </summary>
public sealed class OutboxDispatcher(
    IBus bus,
    SagasDbFactory dbFactory,
    IOptions<SagasOptions> options,
    TimeProvider clock,
    TransportOptions transport,
    ILogger<OutboxDispatcher> logger) : BackgroundService, IOutboxSignal
{
    private const int BatchSize = 200;
    private readonly Channel<OutboxRecord> _ready = Channel.CreateUnbounded<OutboxRecord>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Hands committed rows over for immediate delivery.</summary>
    public void Enqueue(IReadOnlyList<OutboxRecord> records)
    {
        foreach (var record in records)
        {
            _ready.Writer.TryWrite(record);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(DeliverReadyAsync(stoppingToken), SweepAsync(stoppingToken));

    private async Task DeliverReadyAsync(CancellationToken ct)
    {
        var batch = new List<OutboxRecord>(BatchSize);
        try
        {
            while (await _ready.Reader.WaitToReadAsync(ct))
            {
                batch.Clear();
                while (batch.Count < BatchSize && _ready.Reader.TryRead(out var record))
                {
                    batch.Add(record);
                }

                await SendAndDeleteAsync(batch, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down: rows not yet sent stay in the outbox for the sweeper of the next start.
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
                        await SendAndDeleteAsync(stale, ct);
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

    private async Task SendAndDeleteAsync(List<OutboxRecord> batch, CancellationToken ct)
    {
        // All at once: each send waits for its publisher confirm, and the broker confirms many in one go. Order
        // between rows does not matter: a saga's next command is only written after the reply to its previous one.
        var delivered = await Task.WhenAll(batch.Select(record => TrySendAsync(record, ct)));
        var sent = new List<long>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            if (delivered[i])
            {
                sent.Add(batch[i].Id);
            }
        }

        if (sent.Count == 0)
        {
            return;
        }

        try
        {
            await using var db = dbFactory.Create();
            await db.Outbox.Where(o => sent.Contains(o.Id)).ExecuteDeleteAsync(ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Left in place they are sent again later; receivers dedupe.
            logger.LogWarning(ex, "Deleting {Count} sent outbox rows failed; they will be re-sent", sent.Count);
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

    private async Task SendAsync(OutboxRecord record, CancellationToken ct)
    {
        var message = record.Message ?? MessageTypes.Deserialize(record.MessageType, record.Body);
        var type = message.GetType();
        using var activity = SagasDiagnostics.StartSend(record.SagaId, message);
        void Stamp(SendContext context)
        {
            context.MessageId = record.MessageId;
            context.Headers.Set(Endpoints.SagaIdHeader, record.SagaId.ToString());
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
