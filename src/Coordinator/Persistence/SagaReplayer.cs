using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Engine;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// The determinism check: replays a saga's recorded inputs through the Engine, at the times they were applied,
/// and compares the result with the stored saga and its history. Any difference means the Engine is not a pure
/// function of its inputs (or the store lost a write). It also checks that the saga's timer row matches its wake-up.
/// </summary>
public sealed class SagaReplayer(SagasDbFactory dbFactory, DefinitionRegistry definitions)
{
    public async Task<IReadOnlyList<string>> VerifyAsync(Guid sagaId, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        var stored = await db.Sagas.AsNoTracking().FirstOrDefaultAsync(s => s.Id == sagaId, ct);
        if (stored is null)
        {
            return [$"saga {sagaId} does not exist"];
        }

        var events = await db.Events.AsNoTracking().Where(e => e.SagaId == sagaId).OrderBy(e => e.Version).ToListAsync(ct);
        var history = await db.History.AsNoTracking().Where(h => h.SagaId == sagaId).OrderBy(h => h.Sequence).Select(h => h.Type).ToListAsync(ct);
        if (events.Count == 0 || events[0].Kind != SagaEventCodec.StartKind)
        {
            return [$"saga {sagaId} has no recorded start"];
        }

        var definition = await definitions.GetAsync(stored.Definition, stored.Version, ct);
        var decision = SagaEngine.Start(definition, SagaEventCodec.DecodeStart(events[0].Json), events[0].At);
        var replayedHistory = decision.History.Select(h => h.Type).ToList();
        foreach (var e in events.Skip(1))
        {
            decision = SagaEngine.Handle(definition, decision.Instance, SagaEventCodec.Decode(e.Kind, e.Json), e.At);
            replayedHistory.AddRange(decision.History.Select(h => h.Type));
        }

        var differences = Compare(stored, decision.Instance, history, replayedHistory);

        // The poller finds due sagas through saga_timers only: a saga without its row, or with a row later than its
        // wake-up, would not wake on time. A row earlier than the wake-up is allowed: its tick moves it.
        var timer = await db.Timers.AsNoTracking().Where(t => t.SagaId == sagaId).Select(t => (DateTimeOffset?)t.WakeAt).FirstOrDefaultAsync(ct);
        if ((timer is null) != (stored.NextWakeAt is null) || timer > stored.NextWakeAt)
        {
            differences.Add($"timer row: saga wakes at {Show(stored.NextWakeAt)}, its timer row at {Show(timer)}");
        }

        return differences;
    }

    private static string Show(DateTimeOffset? at) => at?.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? "none";

    private static List<string> Compare(SagaInstance stored, SagaInstance replayed, List<string> history, List<string> replayedHistory)
    {
        var differences = new List<string>();
        void Check<T>(string what, T a, T b)
        {
            if (!EqualityComparer<T>.Default.Equals(a, b))
            {
                differences.Add($"{what}: stored {a}, replayed {b}");
            }
        }

        Check("state", stored.State, replayed.State);
        Check("reason", stored.Reason, replayed.Reason);
        Check("concurrency version", stored.ConcurrencyVersion, replayed.ConcurrencyVersion);
        Check("history sequence", stored.HistorySequence, replayed.HistorySequence);
        Check("compensation trigger", stored.CompensationTrigger, replayed.CompensationTrigger);
        Check("signals", stored.Signals.Count, replayed.Signals.Count);
        Check("deferred replies", stored.Deferred.Count, replayed.Deferred.Count);
        if (!JsonNode.DeepEquals(JsonNode.Parse(stored.Data), JsonNode.Parse(replayed.Data)))
        {
            differences.Add($"data: stored {stored.Data}, replayed {replayed.Data}");
        }

        for (var i = 0; i < Math.Max(stored.Steps.Count, replayed.Steps.Count); i++)
        {
            var a = i < stored.Steps.Count ? Describe(stored.Steps[i]) : "missing";
            var b = i < replayed.Steps.Count ? Describe(replayed.Steps[i]) : "missing";
            Check($"step {i}", a, b);
        }

        if (!history.SequenceEqual(replayedHistory))
        {
            differences.Add($"history: stored [{string.Join(", ", history)}], replayed [{string.Join(", ", replayedHistory)}]");
        }

        return differences;
    }

    private static string Describe(StepState s) =>
        JsonSerializer.Serialize(new { s.Name, s.Status, s.Attempts, s.CompensationAttempts, s.LastError, s.DueAt, s.StartedAt, s.FinishedAt, s.CompensatedAt });
}
