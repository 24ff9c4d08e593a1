using System.Data;
using Npgsql;

namespace Sagas.Chaos;

public sealed record ReservationRow(Guid SagaId, string Step, string Sku, long Quantity, bool Released);

public sealed record ChargeRow(Guid SagaId, string Step, string CustomerId, long AmountCents, bool Refunded);

public sealed record ShipmentRow(Guid SagaId, string Step, bool Cancelled);

public sealed record BarrierEntry(string Service, Guid SagaId, string Step, string Op, string Outcome, string? Reason, string? Output);

/// <summary>The participants' own books, read straight from their databases: the oracle never asks the coordinator.</summary>
public sealed class Ledger
{
    public Dictionary<string, long> Stock { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, long> Balances { get; } = new(StringComparer.Ordinal);

    public List<ReservationRow> Reservations { get; } = [];

    public List<ChargeRow> Charges { get; } = [];

    public List<ShipmentRow> Shipments { get; } = [];

    public List<BarrierEntry> Barrier { get; } = [];

    /// <summary>Each database is read in one snapshot, so a total and its ledger rows are seen as of the same instant.</summary>
    public static async Task<Ledger> ReadAsync(Services services, CancellationToken ct)
    {
        var ledger = new Ledger();
        await using (var inventory = await OpenAsync(services, "inventory", ct))
        await using (var snapshot = await inventory.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct))
        {
            await ReadAsync(inventory, "SELECT sku, available FROM stock", r => ledger.Stock[r.GetString(0)] = r.GetInt64(1), ct);
            await ReadAsync(inventory, "SELECT saga_id, step, sku, quantity, released FROM reservations",
                r => ledger.Reservations.Add(new ReservationRow(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetBoolean(4))), ct);
            await ReadBarrierAsync(ledger, inventory, "inventory", ct);
        }

        await using (var payments = await OpenAsync(services, "payments", ct))
        await using (var snapshot = await payments.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct))
        {
            await ReadAsync(payments, "SELECT customer_id, balance_cents FROM accounts", r => ledger.Balances[r.GetString(0)] = r.GetInt64(1), ct);
            await ReadAsync(payments, "SELECT saga_id, step, customer_id, amount_cents, refunded FROM charges",
                r => ledger.Charges.Add(new ChargeRow(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetBoolean(4))), ct);
            await ReadBarrierAsync(ledger, payments, "payments", ct);
        }

        await using (var shipping = await OpenAsync(services, "shipping", ct))
        await using (var snapshot = await shipping.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct))
        {
            await ReadAsync(shipping, "SELECT saga_id, step, cancelled FROM shipments",
                r => ledger.Shipments.Add(new ShipmentRow(r.GetGuid(0), r.GetString(1), r.GetBoolean(2))), ct);
            await ReadBarrierAsync(ledger, shipping, "shipping", ct);
        }

        return ledger;
    }

    /// <summary>Barrier rows of some sagas only (for replays during the run).</summary>
    public static async Task<List<BarrierEntry>> ReadBarrierAsync(Services services, IReadOnlyCollection<Guid> sagaIds, CancellationToken ct)
    {
        var rows = new List<BarrierEntry>();
        foreach (var service in new[] { "inventory", "payments", "shipping" })
        {
            await using var connection = await OpenAsync(services, service, ct);
            await using var command = new NpgsqlCommand("SELECT saga_id, step, op, outcome, reason, output FROM saga_barrier WHERE saga_id = ANY(@ids)", connection);
            command.Parameters.AddWithValue("ids", sagaIds.ToArray());
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                rows.Add(new BarrierEntry(service, reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
            }
        }

        return rows;
    }

    public static async Task<bool> TablesExistAsync(Services services, CancellationToken ct)
    {
        try
        {
            foreach (var (service, table) in new[] { ("inventory", "stock"), ("payments", "accounts"), ("shipping", "shipments") })
            {
                await using var connection = await OpenAsync(services, service, ct);
                await using var command = new NpgsqlCommand("SELECT to_regclass(@t) IS NOT NULL", connection);
                command.Parameters.AddWithValue("t", "public." + table);
                if (!(bool)(await command.ExecuteScalarAsync(ct))!)
                {
                    return false;
                }
            }

            return true;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    public static async Task SeedAsync(Services services, IReadOnlyDictionary<string, long> stock, IReadOnlyDictionary<string, long> balances, CancellationToken ct)
    {
        await using (var inventory = await OpenAsync(services, "inventory", ct))
        {
            foreach (var (sku, available) in stock)
            {
                await using var command = new NpgsqlCommand(
                    "INSERT INTO stock (sku, available) VALUES (@s, @a) ON CONFLICT (sku) DO UPDATE SET available = excluded.available", inventory);
                command.Parameters.AddWithValue("s", sku);
                command.Parameters.AddWithValue("a", available);
                await command.ExecuteNonQueryAsync(ct);
            }
        }

        await using var payments = await OpenAsync(services, "payments", ct);
        foreach (var (customer, cents) in balances)
        {
            await using var command = new NpgsqlCommand(
                "INSERT INTO accounts (customer_id, balance_cents) VALUES (@c, @b) ON CONFLICT (customer_id) DO UPDATE SET balance_cents = excluded.balance_cents", payments);
            command.Parameters.AddWithValue("c", customer);
            command.Parameters.AddWithValue("b", cents);
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    private static async Task<NpgsqlConnection> OpenAsync(Services services, string service, CancellationToken ct)
    {
        var connection = new NpgsqlConnection(services.RunnerConnectionString(service));
        await connection.OpenAsync(ct);
        return connection;
    }

    private static async Task ReadAsync(NpgsqlConnection connection, string sql, Action<NpgsqlDataReader> row, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            row(reader);
        }
    }

    private static Task ReadBarrierAsync(Ledger ledger, NpgsqlConnection connection, string service, CancellationToken ct) =>
        ReadAsync(connection, "SELECT saga_id, step, op, outcome, reason, output FROM saga_barrier",
            r => ledger.Barrier.Add(new BarrierEntry(service, r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5))), ct);
}
