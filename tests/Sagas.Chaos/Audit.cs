using Npgsql;

namespace Sagas.Chaos;

/// <summary>
/// Triggers in the inventory and payments databases that log, per transaction, every change of stock or balance and
/// every reservation or charge taken or given back. In a correct participant each transaction moves the total and
/// the ledger rows by the same amount; when the totals check fails, <see cref="UnbalancedAsync"/> names the
/// transactions that did not, with what each wrote, so a finding points at its cause.
/// </summary>
public static class Audit
{
    private const string Table = """
        CREATE TABLE IF NOT EXISTS chaos_audit (
            id bigserial PRIMARY KEY,
            tx bigint NOT NULL DEFAULT txid_current(),
            backend int NOT NULL DEFAULT pg_backend_pid(),
            app text NOT NULL DEFAULT current_setting('application_name'),
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            kind text NOT NULL,
            account text NOT NULL,
            saga_id uuid,
            delta bigint NOT NULL);
        """;

    /// <summary>Total column changes count as they are; a ledger row taken counts minus its amount, given back plus.</summary>
    private static readonly (string Service, string Sql)[] Triggers =
    [
        ("inventory", """
            CREATE OR REPLACE FUNCTION chaos_audit_stock() RETURNS trigger AS $$
            BEGIN
              IF NEW.available <> OLD.available THEN
                INSERT INTO chaos_audit (kind, account, delta) VALUES ('total', NEW.sku, NEW.available - OLD.available);
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE OR REPLACE FUNCTION chaos_audit_reservations() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'INSERT' THEN
                INSERT INTO chaos_audit (kind, account, saga_id, delta) VALUES ('ledger', NEW.sku, NEW.saga_id, CASE WHEN NEW.released THEN 0 ELSE -NEW.quantity END);
              ELSIF TG_OP = 'UPDATE' AND NEW.released <> OLD.released THEN
                INSERT INTO chaos_audit (kind, account, saga_id, delta) VALUES ('ledger', NEW.sku, NEW.saga_id, CASE WHEN NEW.released THEN NEW.quantity ELSE -NEW.quantity END);
              ELSIF TG_OP = 'DELETE' AND NOT OLD.released THEN
                INSERT INTO chaos_audit (kind, account, saga_id, delta) VALUES ('ledger', OLD.sku, OLD.saga_id, OLD.quantity);
              END IF;
              RETURN NULL;
            END $$ LANGUAGE plpgsql;
            DROP TRIGGER IF EXISTS chaos_audit ON stock;
            CREATE TRIGGER chaos_audit AFTER UPDATE ON stock FOR EACH ROW EXECUTE FUNCTION chaos_audit_stock();
            DROP TRIGGER IF EXISTS chaos_audit ON reservations;
            CREATE TRIGGER chaos_audit AFTER INSERT OR UPDATE OR DELETE ON reservations FOR EACH ROW EXECUTE FUNCTION chaos_audit_reservations();
            """),
        ("payments", """
            CREATE OR REPLACE FUNCTION chaos_audit_accounts() RETURNS trigger AS $$
            BEGIN
              IF NEW.balance_cents <> OLD.balance_cents THEN
                INSERT INTO chaos_audit (kind, account, delta) VALUES ('total', NEW.customer_id, NEW.balance_cents - OLD.balance_cents);
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE OR REPLACE FUNCTION chaos_audit_charges() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'INSERT' THEN
                INSERT INTO chaos_audit (kind, account, saga_id, delta) VALUES ('ledger', NEW.customer_id, NEW.saga_id, CASE WHEN NEW.refunded THEN 0 ELSE -NEW.amount_cents END);
              ELSIF TG_OP = 'UPDATE' AND NEW.refunded <> OLD.refunded THEN
                INSERT INTO chaos_audit (kind, account, saga_id, delta) VALUES ('ledger', NEW.customer_id, NEW.saga_id, CASE WHEN NEW.refunded THEN NEW.amount_cents ELSE -NEW.amount_cents END);
              ELSIF TG_OP = 'DELETE' AND NOT OLD.refunded THEN
                INSERT INTO chaos_audit (kind, account, saga_id, delta) VALUES ('ledger', OLD.customer_id, OLD.saga_id, OLD.amount_cents);
              END IF;
              RETURN NULL;
            END $$ LANGUAGE plpgsql;
            DROP TRIGGER IF EXISTS chaos_audit ON accounts;
            CREATE TRIGGER chaos_audit AFTER UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION chaos_audit_accounts();
            DROP TRIGGER IF EXISTS chaos_audit ON charges;
            CREATE TRIGGER chaos_audit AFTER INSERT OR UPDATE OR DELETE ON charges FOR EACH ROW EXECUTE FUNCTION chaos_audit_charges();
            """),
    ];

    /// <summary>Installs the triggers; call after seeding, so the seed itself is not audited.</summary>
    public static async Task InstallAsync(Services services, CancellationToken ct)
    {
        foreach (var (service, sql) in Triggers)
        {
            await using var connection = new NpgsqlConnection(services.RunnerConnectionString(service));
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand(Table + "\nTRUNCATE chaos_audit;\n" + sql, connection);
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>Every audited transaction whose total change differs from its ledger change, with its rows.</summary>
    public static async Task<List<string>> UnbalancedAsync(Services services, CancellationToken ct)
    {
        var found = new List<string>();
        foreach (var (service, _) in Triggers)
        {
            await using var connection = new NpgsqlConnection(services.RunnerConnectionString(service));
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand("""
                SELECT a.tx, a.account, a.kind, a.saga_id, a.delta, a.backend, a.app, a.at
                FROM chaos_audit a
                JOIN (SELECT tx, account FROM chaos_audit GROUP BY tx, account
                      HAVING sum(CASE WHEN kind = 'total' THEN delta ELSE 0 END) <> sum(CASE WHEN kind = 'ledger' THEN delta ELSE 0 END)) u
                  ON u.tx = a.tx AND u.account = a.account
                ORDER BY a.id
                """, connection);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                found.Add($"{service} tx {reader.GetInt64(0)} {reader.GetString(1)}: {reader.GetString(2)} {reader.GetInt64(4):+#;-#;0}"
                    + $" saga {(reader.IsDBNull(3) ? "-" : reader.GetGuid(3).ToString())} backend {reader.GetInt32(5)} app '{reader.GetString(6)}' at {reader.GetDateTime(7):HH:mm:ss.ffffff}");
            }
        }

        return found;
    }
}
