using System.Security.Cryptography;
using Npgsql;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// PostgreSQL + RabbitMQ with payload encryption (two keys: an old one that only decrypts, the newest that encrypts)
/// and the claim check at 64 KB, claims read by the participants straight from the coordinator's database.
/// </summary>
public sealed class ProtectedPayloadBackend : DistributedBackend
{
    public const int ClaimThresholdBytes = 64 * 1024;
    public const string OldKeyId = "2025-q4";
    public const string ActiveKeyId = "2026-q1";

    public override string Name => "PostgreSQL + RabbitMQ, payloads encrypted and claim-checked";

    public string OldKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public string ActiveKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var settings = await base.SettingsAsync();
        settings["Sagas:Payloads:Encryption:Keys:0:Id"] = OldKeyId;
        settings["Sagas:Payloads:Encryption:Keys:0:Key"] = OldKey;
        settings["Sagas:Payloads:Encryption:Keys:1:Id"] = ActiveKeyId;
        settings["Sagas:Payloads:Encryption:Keys:1:Key"] = ActiveKey;
        settings["Sagas:Payloads:PlaintextRole"] = "Operator";
        settings["Sagas:Payloads:ClaimCheck:ThresholdBytes"] = ClaimThresholdBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Sagas:Payloads:ClaimCheck:Provider"] = "Postgres";
        settings["Sagas:Payloads:ClaimCheck:ConnectionString"] = CoordinatorConnectionString;
        settings["Sagas:MaxDataBytes"] = (2 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Sagas:MaxRequestBytes"] = (4 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    /// <summary>The text of every row of every table of the coordinator's database, one row per line.</summary>
    public async Task<string> DumpCoordinatorDatabaseAsync()
    {
        await using var connection = new NpgsqlConnection(CoordinatorConnectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        var dump = new System.Text.StringBuilder();
        foreach (var table in tables)
        {
            await using var select = new NpgsqlCommand($"SELECT t::text FROM \"{table}\" t", connection);
            await using var reader = await select.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                dump.Append(table).Append(": ").AppendLine(reader.GetString(0));
            }
        }

        return dump.ToString();
    }
}
