using Npgsql;

namespace Sagas.Bench.Throughput.Peers;

/// <summary>
/// The peers' participant work: one INSERT (its own committed transaction) per step in PostgreSQL with
/// synchronous_commit on, and one DELETE per compensation. Ours does its barrier row and business write in
/// one transaction per step, so both pay one durable commit per step.
/// </summary>
public sealed class StepWriter(NpgsqlDataSource dataSource)
{
    public const string Schema = "CREATE TABLE IF NOT EXISTS step_writes (saga_id uuid NOT NULL, step text NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (saga_id, step))";

    public async Task WriteAsync(Guid sagaId, string step, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("INSERT INTO step_writes (saga_id, step) VALUES ($1, $2)");
        command.Parameters.Add(new NpgsqlParameter { Value = sagaId });
        command.Parameters.Add(new NpgsqlParameter { Value = step });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task UndoAsync(Guid sagaId, string step, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM step_writes WHERE saga_id = $1 AND step = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = sagaId });
        command.Parameters.Add(new NpgsqlParameter { Value = step });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
