using Npgsql;
using Sagas.Samples;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>Embedded mode: SQLite files and the in-memory transport.</summary>
public class EmbeddedBackend : SagaBackend
{
    public override string Name => "SQLite + in-memory transport";

    protected override Task<Dictionary<string, string?>> SettingsAsync()
    {
        var data = Path.Combine(WorkDirectory, "data");
        Directory.CreateDirectory(data);
        return Task.FromResult(new Dictionary<string, string?>
        {
            ["Sagas:Mode"] = "Embedded",
            ["Sagas:Database:Provider"] = "Sqlite",
            ["ConnectionStrings:Sagas"] = $"Data Source={Path.Combine(data, "sagas.db")}",
            ["Sagas:Transport:Kind"] = "InMemory",
            ["Samples:Provider"] = "Sqlite",
            ["Samples:Inventory"] = Path.Combine(data, "inventory.db"),
            ["Samples:Payments"] = Path.Combine(data, "payments.db"),
            ["Samples:Shipping"] = Path.Combine(data, "shipping.db"),
        });
    }
}

/// <summary>Distributed infrastructure: PostgreSQL and RabbitMQ, each fixture on its own vhost and databases.</summary>
public class DistributedBackend : SagaBackend
{
    public override string Name => "PostgreSQL + RabbitMQ";

    /// <summary>Declare every receive queue as a quorum queue.</summary>
    protected virtual bool QuorumQueues => Environment.GetEnvironmentVariable("SAGAS_TEST_QUORUM") == "1";

    public bool UsesQuorumQueues => QuorumQueues;

    public Uri? BrokerUri { get; private set; }

    public string? CoordinatorConnectionString { get; private set; }

    private string? _vhost;

    private string? _database;

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            if (_vhost is not null)
            {
                await TestServices.DeleteVhostAsync(_vhost);
            }

            if (_database is not null)
            {
                await TestServices.DropDatabasesAsync(_database);
            }
        }
    }

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var (rabbit, postgres) = await TestServices.GetAsync();
        var unique = "it_" + Guid.NewGuid().ToString("N")[..8];
        _vhost = "sagas-" + unique;
        _database = "sagas_" + unique;
        BrokerUri = await TestServices.CreateVhostAsync(rabbit, _vhost);
        CoordinatorConnectionString = new NpgsqlConnectionStringBuilder(postgres) { Database = $"sagas_{unique}" }.ConnectionString;
        var samples = SamplesOptions.ForPostgres(postgres, $"sagas_{unique}_");
        return new Dictionary<string, string?>
        {
            ["Sagas:Mode"] = "Distributed",
            ["Sagas:HostSampleParticipants"] = "true",
            ["Sagas:Database:Provider"] = "Postgres",
            ["ConnectionStrings:Sagas"] = CoordinatorConnectionString,
            ["Sagas:Transport:Kind"] = "RabbitMq",
            ["Sagas:Transport:RabbitMqUri"] = BrokerUri.ToString(),
            ["Sagas:Transport:QuorumQueues"] = QuorumQueues ? "true" : "false",
            ["Samples:Provider"] = "Postgres",
            ["Samples:Inventory"] = samples.Inventory,
            ["Samples:Payments"] = samples.Payments,
            ["Samples:Shipping"] = samples.Shipping,
        };
    }
}

/// <summary>
/// PostgreSQL + RabbitMQ with command batches turned off for the payments participant only, and replies shared across
/// commands (<c>Sagas:Participants:Reply:BatchAcrossCommands</c>).
/// </summary>
public sealed class PaymentsUnbatchedBackend : DistributedBackend
{
    public override string Name => "PostgreSQL + RabbitMQ, payments without batches";

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var settings = await base.SettingsAsync();
        settings["Sagas:ParticipantCommandBatchSize:Payments"] = "1";
        settings["Sagas:Participants:Reply:BatchAcrossCommands"] = "true";
        return settings;
    }
}

/// <summary>PostgreSQL + RabbitMQ with quorum queues (replicated; RabbitMQ runs them on a single node too).</summary>
public sealed class QuorumBackend : DistributedBackend
{
    public override string Name => "PostgreSQL + RabbitMQ quorum queues";

    protected override bool QuorumQueues => true;
}

/// <summary>
/// Embedded mode with payload encryption on and a claim-check threshold so low that nearly every step payload
/// travels as a claim (read from the coordinator's own SQLite store): the ordinary scenarios must not notice.
/// </summary>
public sealed class ProtectedEmbeddedBackend : EmbeddedBackend
{
    public override string Name => "SQLite + in-memory transport, payloads encrypted and claim-checked";

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var settings = await base.SettingsAsync();
        settings["Sagas:Payloads:Encryption:Keys:0:Id"] = "k1";
        settings["Sagas:Payloads:Encryption:Keys:0:Key"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        settings["Sagas:Payloads:ClaimCheck:ThresholdBytes"] = "256";
        return settings;
    }
}
