using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Sagas.Participants.Payloads;

/// <summary>
/// Reads and writes the coordinator's <c>payload_claims</c> table directly (PostgreSQL or SQLite). Participants use
/// it so a claimed payload reaches them without another network hop through the coordinator; grant the participant's
/// database login SELECT and INSERT on that one table only.
/// </summary>
public sealed class SqlClaimStore : IClaimStore
{
    private readonly bool _postgres;
    private readonly string _connectionString;

    public SqlClaimStore(string provider, string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _postgres = provider switch
        {
            _ when string.Equals(provider, "Postgres", StringComparison.OrdinalIgnoreCase) => true,
            _ when string.Equals(provider, "Sqlite", StringComparison.OrdinalIgnoreCase) => false,
            _ => throw new InvalidOperationException($"{PayloadOptions.Section}:ClaimCheck:Provider must be Postgres or Sqlite, not '{provider}'"),
        };
        _connectionString = connectionString;
    }

    public async Task<string?> ReadAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT \"Body\" FROM payload_claims WHERE \"Id\" = @id";
        Add(command, "id", id);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    public async Task WriteAsync(PayloadClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        await using var connection = Open();
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var columns = "(\"Id\", \"SagaId\", \"Size\", \"Sha256\", \"Body\", \"CreatedAtTicks\") VALUES (@id, @saga, @size, @sha, @body, @at)";
        command.CommandText = _postgres
            ? $"INSERT INTO payload_claims {columns} ON CONFLICT (\"Id\") DO NOTHING"
            : $"INSERT OR IGNORE INTO payload_claims {columns}";
        Add(command, "id", claim.Id);

        // EF Core keeps SQLite GUIDs as upper-case text; PostgreSQL has a uuid type.
        Add(command, "saga", _postgres ? claim.SagaId : claim.SagaId.ToString().ToUpperInvariant());
        Add(command, "size", claim.Size);
        Add(command, "sha", claim.Sha256);
        Add(command, "body", claim.Body);
        Add(command, "at", DateTimeOffset.UtcNow.UtcTicks);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private DbConnection Open() => _postgres ? new NpgsqlConnection(_connectionString) : new SqliteConnection(_connectionString);

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
