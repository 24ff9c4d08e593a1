using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;

namespace Sagas.Bench.Search;

/// <summary>A saga definition of the synthetic data set: its name, its steps and its share of all sagas.</summary>
internal sealed record BenchDefinition(string Name, string[] Steps, double Weight);

/// <summary>What the load produced that the query shapes need: some real business keys and the time window.</summary>
internal sealed record LoadInfo(long Sagas, long Compensations, IReadOnlyList<string> BusinessKeys, DateTime OldestUtc, DateTime NewestUtc);

/// <summary>
/// Bulk-loads synthetic sagas and their compensation audit rows with binary COPY. The secondary indexes the
/// migrations created are dropped for the load and re-created from their own definitions afterwards (faster than
/// maintaining six B-trees row by row); the schema ends identical to what the migrations made.
/// </summary>
internal static class Loader
{
    public static readonly BenchDefinition[] Definitions =
    [
        new("order-fulfilment", ["reserve-stock", "charge-payment", "book-shipment"], 0.40),
        new("subscription-renewal", ["charge-card", "extend-subscription", "send-receipt"], 0.25),
        new("refund", ["reverse-charge", "restock", "notify-customer"], 0.15),
        new("account-onboarding", ["create-account", "provision-workspace", "send-welcome", "assign-manager"], 0.12),
        new("trip-booking", ["book-flight", "book-hotel", "book-car", "charge-traveller"], 0.08),
    ];

    /// <summary>20 tenants with a skewed (Zipf-like, s = 0.8) share: the biggest has ~14% of sagas, the smallest ~1.3%.</summary>
    public static readonly string[] Tenants = Enumerable.Range(1, 20).Select(i => $"tenant-{i:00}").ToArray();

    private static readonly double[] TenantWeights = Enumerable.Range(1, 20).Select(i => 1 / Math.Pow(i, 0.8)).ToArray();

    /// <summary>Share of each state. In-flight states (Running, Compensating, Paused) are created in the last two days.</summary>
    private static readonly (SagaState State, double Weight)[] States =
    [
        (SagaState.Completed, 0.880),
        (SagaState.Compensated, 0.060),
        (SagaState.Failed, 0.020),
        (SagaState.Running, 0.025),
        (SagaState.Compensating, 0.005),
        (SagaState.Paused, 0.005),
        (SagaState.Cancelled, 0.005),
    ];

    private static readonly JsonSerializerOptions StepJson = new(JsonSerializerDefaults.Web);

    private const string SagaColumns =
        "\"Id\", \"Definition\", \"Version\", \"State\", \"Data\", \"Steps\", \"Reason\", \"BusinessKey\", \"Tenant\", \"CreatedAt\", " +
        "\"UpdatedAt\", \"CompletedAt\", \"NextWakeAt\", \"DeadlineAt\", \"HistorySequence\", \"ConcurrencyVersion\", " +
        "\"CompensationTrigger\", \"Deferred\", \"PausedFrom\", \"Signals\"";

    private const string CompensationColumns =
        "\"SagaId\", \"Step\", \"Definition\", \"Version\", \"Trigger\", \"Attempts\", \"Outcome\", \"LastError\", \"Tenant\", " +
        "\"StartedAt\", \"UpdatedAt\", \"CompletedAt\"";

    public static async Task<LoadInfo> LoadAsync(string connectionString, int count, int seed, DateTime nowUtc, CancellationToken ct)
    {
        var rng = new Random(seed);
        var keys = new List<string>();
        var compensations = new List<CompensationRecord>();
        var oldest = DateTime.MaxValue;
        var newest = DateTime.MinValue;

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await Exec(connection, "SET maintenance_work_mem = '256MB'", ct);
        var indexes = await DropSecondaryIndexesAsync(connection, ct);

        var watch = Stopwatch.StartNew();
        await using (var copy = await connection.BeginBinaryImportAsync($"COPY sagas ({SagaColumns}) FROM STDIN (FORMAT BINARY)", ct))
        {
            for (var i = 0; i < count; i++)
            {
                var definition = Pick(rng, Definitions, d => d.Weight);
                var state = Pick(rng, States, s => s.Weight).State;
                var inFlight = state is SagaState.Running or SagaState.Compensating or SagaState.Paused;
                var created = Micros(nowUtc - TimeSpan.FromSeconds(rng.NextDouble() * (inFlight ? 2 : 90) * 86400));
                var tenant = rng.NextDouble() < 0.05 ? null : Pick(rng, Tenants, TenantWeights);
                var businessKey = rng.NextDouble() < 0.10 ? null
                    : keys.Count > 0 && rng.NextDouble() < 0.01 ? keys[rng.Next(keys.Count)] // a retried order: same key again
                    : $"ord-{rng.NextInt64(10_000_000_000L):D10}";
                if (businessKey is not null && keys.Count < 5000 && rng.NextDouble() < 0.01)
                {
                    keys.Add(businessKey);
                }

                var id = RandomGuid(rng);
                var (steps, updated, reason, trigger) = Steps(rng, definition, state, created, nowUtc);
                var terminal = state.IsTerminal();
                var data = $"{{\"orderId\":\"{businessKey ?? "o-" + i}\",\"customerId\":\"c-{rng.Next(200_000)}\",\"amount\":{rng.Next(100, 100_000) / 100.0:0.00},\"country\":\"{Countries[rng.Next(Countries.Length)]}\"}}";

                await copy.StartRowAsync(ct);
                await copy.WriteAsync(id, NpgsqlDbType.Uuid, ct);
                await copy.WriteAsync(definition.Name, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(1, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(state.ToString(), NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(data, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(JsonSerializer.Serialize(steps, StepJson), NpgsqlDbType.Text, ct);
                await WriteNullable(copy, reason, NpgsqlDbType.Varchar, ct);
                await WriteNullable(copy, businessKey, NpgsqlDbType.Varchar, ct);
                await WriteNullable(copy, tenant, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(created, NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync(updated, NpgsqlDbType.TimestampTz, ct);
                await WriteNullable(copy, terminal ? updated : null, NpgsqlDbType.TimestampTz, ct);
                // In-flight sagas wait for a step timeout; keep it out of the poller's reach during the run.
                await WriteNullable(copy, inFlight && state != SagaState.Paused ? nowUtc.AddDays(30) : null, NpgsqlDbType.TimestampTz, ct);
                await copy.WriteNullAsync(ct); // DeadlineAt
                await copy.WriteAsync(steps.Count * 2 + 1, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(steps.Count * 2, NpgsqlDbType.Integer, ct);
                await WriteNullable(copy, trigger, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync("[]", NpgsqlDbType.Text, ct);
                await WriteNullable(copy, state == SagaState.Paused ? SagaState.Running.ToString() : null, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync("[]", NpgsqlDbType.Text, ct);

                AddCompensations(rng, compensations, id, definition, state, steps, tenant, trigger);
                oldest = created < oldest ? created : oldest;
                newest = created > newest ? created : newest;
                if ((i + 1) % 200_000 == 0)
                {
                    Console.WriteLine($"  {i + 1:N0} sagas ({watch.Elapsed.TotalSeconds:0.0} s)");
                }
            }

            await copy.CompleteAsync(ct);
        }

        Console.WriteLine($"  sagas copied in {watch.Elapsed.TotalSeconds:0.0} s");
        await using (var copy = await connection.BeginBinaryImportAsync($"COPY compensations ({CompensationColumns}) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var c in compensations)
            {
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(c.SagaId, NpgsqlDbType.Uuid, ct);
                await copy.WriteAsync(c.Step, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(c.Definition, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(c.Version, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(c.Trigger, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(c.Attempts, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(c.Outcome, NpgsqlDbType.Varchar, ct);
                await WriteNullable(copy, c.LastError, NpgsqlDbType.Varchar, ct);
                await WriteNullable(copy, c.Tenant, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(c.StartedAt.UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync(c.UpdatedAt.UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                await WriteNullable(copy, c.CompletedAt?.UtcDateTime, NpgsqlDbType.TimestampTz, ct);
            }

            await copy.CompleteAsync(ct);
        }

        Console.WriteLine($"  {compensations.Count:N0} compensations copied ({watch.Elapsed.TotalSeconds:0.0} s)");
        foreach (var (name, definition) in indexes)
        {
            await Exec(connection, definition, ct);
            Console.WriteLine($"  index {name} re-created ({watch.Elapsed.TotalSeconds:0.0} s)");
        }

        await Exec(connection, "VACUUM (ANALYZE) sagas", ct);
        await Exec(connection, "VACUUM (ANALYZE) compensations", ct);
        Console.WriteLine($"  vacuum + analyze done ({watch.Elapsed.TotalSeconds:0.0} s)");
        return new LoadInfo(count, compensations.Count, keys, oldest, newest);
    }

    private static readonly string[] Countries = ["NL", "DE", "FR", "BE", "US", "GB", "ES", "IT", "PL", "SE"];

    private static readonly string[] Triggers = ["StepFailure", "StepFailure", "StepFailure", "Timeout", "Deadline", "Cancel"];

    private static (List<StepState> Steps, DateTime Updated, string? Reason, string? Trigger) Steps(
        Random rng, BenchDefinition definition, SagaState state, DateTime created, DateTime nowUtc)
    {
        var steps = new List<StepState>();
        var at = created;
        var n = definition.Steps.Length;
        // Completed sagas ran every step; failing ones broke at step k (>= 1, so there is something to compensate).
        var failedAt = state is SagaState.Completed ? n : state is SagaState.Running or SagaState.Paused ? rng.Next(0, n) : rng.Next(1, n);
        var reason = (string?)null;
        var trigger = state is SagaState.Compensated or SagaState.Failed or SagaState.Compensating or SagaState.Cancelled
            ? state == SagaState.Cancelled ? "Cancel" : Triggers[rng.Next(Triggers.Length)]
            : null;
        for (var s = 0; s < n; s++)
        {
            var step = new StepState { Name = definition.Steps[s] };
            if (s < failedAt)
            {
                step.Status = StepStatus.Succeeded;
                step.Attempts = rng.NextDouble() < 0.05 ? 2 : 1;
                step.StartedAt = at;
                at = Micros(at.AddMilliseconds(rng.Next(5, 400)));
                step.FinishedAt = at;
            }
            else if (s == failedAt && state is SagaState.Running or SagaState.Paused)
            {
                step.Status = StepStatus.Running;
                step.Attempts = 1;
                step.StartedAt = at;
                step.DueAt = nowUtc.AddDays(30);
            }
            else if (s == failedAt && trigger is not null)
            {
                step.Status = StepStatus.Failed;
                step.Attempts = 3;
                step.StartedAt = at;
                at = Micros(at.AddMilliseconds(rng.Next(50, 5000)));
                step.FinishedAt = at;
                step.LastError = trigger == "Timeout" ? "timed out after 30s" : $"{definition.Steps[s]} refused: insufficient funds";
                reason = $"step '{definition.Steps[s]}' failed: {step.LastError}";
            }

            steps.Add(step);
        }

        if (trigger is not null)
        {
            for (var s = failedAt - 1; s >= 0; s--)
            {
                at = Micros(at.AddMilliseconds(rng.Next(5, 400)));
                steps[s].CompensationStartedAt = at;
                steps[s].CompensationAttempts = 1;
                if (state == SagaState.Compensating && s == failedAt - 1)
                {
                    steps[s].Status = StepStatus.Compensating;
                    break;
                }

                if (state == SagaState.Failed && s == failedAt - 1)
                {
                    steps[s].Status = StepStatus.CompensationFailed;
                    steps[s].CompensationAttempts = 5;
                    steps[s].LastError = "compensation failed: upstream returned 500";
                    reason = $"compensation of '{steps[s].Name}' failed after 5 attempts";
                    break;
                }

                steps[s].Status = StepStatus.Compensated;
                steps[s].CompensatedAt = at;
            }
        }

        return (steps, at, reason, trigger);
    }

    private static void AddCompensations(
        Random rng, List<CompensationRecord> rows, Guid sagaId, BenchDefinition definition, SagaState state, List<StepState> steps, string? tenant, string? trigger)
    {
        if (trigger is null)
        {
            return;
        }

        foreach (var step in steps)
        {
            if (step.CompensationStartedAt is not { } started)
            {
                // The failed step itself: its outcome is known (it failed), so its compensation is recorded as skipped now and then.
                if (step.Status == StepStatus.Failed && rng.NextDouble() < 0.3)
                {
                    rows.Add(Row(step, "skipped", step.FinishedAt!.Value, step.FinishedAt));
                }

                continue;
            }

            var outcome = step.Status == StepStatus.Compensated ? "succeeded" : state == SagaState.Failed ? "failed" : "pending";
            var updated = step.CompensatedAt ?? new DateTimeOffset(Micros(started.UtcDateTime.AddMilliseconds(rng.Next(100, 60_000))), TimeSpan.Zero);
            rows.Add(Row(step, outcome, updated, outcome == "pending" ? null : updated));
        }

        CompensationRecord Row(StepState step, string outcome, DateTimeOffset updated, DateTimeOffset? completed) => new()
        {
            SagaId = sagaId,
            Step = step.Name,
            Definition = definition.Name,
            Version = 1,
            Trigger = trigger,
            Attempts = Math.Max(1, step.CompensationAttempts),
            Outcome = outcome,
            LastError = outcome == "failed" ? step.LastError : null,
            Tenant = tenant,
            StartedAt = step.CompensationStartedAt ?? updated,
            UpdatedAt = updated,
            CompletedAt = completed,
        };
    }

    private static async Task<List<(string Name, string Definition)>> DropSecondaryIndexesAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        var indexes = new List<(string, string)>();
        await using (var cmd = new NpgsqlCommand(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('sagas', 'compensations') AND indexname NOT LIKE 'PK\\_%' ORDER BY indexname",
            connection))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                indexes.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        foreach (var (name, _) in indexes)
        {
            await Exec(connection, $"DROP INDEX \"{name}\"", ct);
        }

        return indexes;
    }

    private static async Task Exec(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task WriteNullable<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type, CancellationToken ct)
    {
        if (value is null)
        {
            await copy.WriteNullAsync(ct);
        }
        else
        {
            await copy.WriteAsync(value, type, ct);
        }
    }

    private static async Task WriteNullable(NpgsqlBinaryImporter copy, DateTime? value, NpgsqlDbType type, CancellationToken ct)
    {
        if (value is { } v)
        {
            await copy.WriteAsync(v, type, ct);
        }
        else
        {
            await copy.WriteNullAsync(ct);
        }
    }

    /// <summary>PostgreSQL keeps microseconds; truncating here keeps cursors (100 ns ticks) and stored values equal.</summary>
    private static DateTime Micros(DateTime utc) => new(utc.Ticks - (utc.Ticks % 10), DateTimeKind.Utc);

    private static Guid RandomGuid(Random rng)
    {
        Span<byte> bytes = stackalloc byte[16];
        rng.NextBytes(bytes);
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4, like Guid.NewGuid()
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes);
    }

    private static T Pick<T>(Random rng, T[] items, Func<T, double> weight) => Pick(rng, items, items.Select(weight).ToArray());

    private static T Pick<T>(Random rng, T[] items, double[] weights)
    {
        var roll = rng.NextDouble() * weights.Sum();
        for (var i = 0; i < items.Length; i++)
        {
            roll -= weights[i];
            if (roll < 0)
            {
                return items[i];
            }
        }

        return items[^1];
    }
}
