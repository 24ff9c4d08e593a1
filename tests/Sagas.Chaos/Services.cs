using Npgsql;

namespace Sagas.Chaos;

/// <summary>The shared RabbitMQ and PostgreSQL of scripts/services.sh: per-run vhost and databases, and the outages.</summary>
public sealed class Services(ChaosOptions options, string repoRoot, string runId)
{
    private static readonly TimeSpan CtlTimeout = TimeSpan.FromSeconds(90);
    private readonly string _pgBin = Environment.GetEnvironmentVariable("SAGAS_PG_BIN") ?? "/usr/lib/postgresql/15/bin";
    private readonly string _pgDir = Environment.GetEnvironmentVariable("SAGAS_PG_DIR") ?? "/var/lib/sagas/pg";

    public string Vhost { get; } = "sagas-chaos-" + runId;

    public bool RabbitStopped { get; private set; }

    public bool PostgresStopped { get; private set; }

    public Uri RabbitUri => new UriBuilder(options.RabbitBase) { Path = "/" + Uri.EscapeDataString(Vhost) }.Uri;

    public string Database(string service) => $"chaos_{runId}_{service}";

    /// <summary>For the children: pooled, as the services run in production.</summary>
    public string ConnectionString(string service) =>
        new NpgsqlConnectionStringBuilder(options.PostgresBase) { Database = Database(service) }.ConnectionString;

    /// <summary>For the runner itself: unpooled, so a connection cut by a fault is never handed out again.</summary>
    public string RunnerConnectionString(string service) =>
        new NpgsqlConnectionStringBuilder(options.PostgresBase) { Database = Database(service), Pooling = false, Timeout = 5, CommandTimeout = 30 }.ConnectionString;

    public async Task CreateAsync()
    {
        await Shell.RunCheckedAsync("rabbitmqctl", ["-q", "add_vhost", Vhost], CtlTimeout);
        await Shell.RunCheckedAsync("rabbitmqctl", ["-q", "set_permissions", "-p", Vhost, "guest", ".*", ".*", ".*"], CtlTimeout);
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(options.PostgresBase) { Pooling = false }.ConnectionString);
        await admin.OpenAsync();
        foreach (var service in new[] { "sagas", "inventory", "payments", "shipping" })
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{Database(service)}\"", admin);
            await create.ExecuteNonQueryAsync();
        }
    }

    public async Task DropAsync()
    {
        await Shell.RunAsync("rabbitmqctl", ["-q", "delete_vhost", Vhost], CtlTimeout);
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(options.PostgresBase) { Pooling = false }.ConnectionString);
        await admin.OpenAsync();
        foreach (var service in new[] { "sagas", "inventory", "payments", "shipping" })
        {
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Database(service)}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }

    public async Task StopRabbitAsync()
    {
        RabbitStopped = true;
        await Shell.RunCheckedAsync("rabbitmqctl", ["-q", "stop_app"], CtlTimeout);
    }

    public async Task StartRabbitAsync()
    {
        await Shell.RunCheckedAsync("rabbitmqctl", ["-q", "start_app"], CtlTimeout);
        RabbitStopped = false;
    }

    public async Task StopPostgresAsync()
    {
        PostgresStopped = true;
        await Shell.RunCheckedAsync("su", ["postgres", "-s", "/bin/bash", "-c", $"'{_pgBin}/pg_ctl' -D '{_pgDir}' -m fast -w stop"], CtlTimeout);
    }

    /// <summary>The start line lives in scripts/services.sh only; it is a no-op for whatever is already up.</summary>
    public async Task StartPostgresAsync()
    {
        await Shell.RunCheckedAsync(Path.Combine(repoRoot, "scripts", "services.sh"), ["start"], CtlTimeout);
        PostgresStopped = false;
    }

    /// <summary>Cuts every server connection to the run's databases, as a failover or a network blip would.</summary>
    public async Task<int> CutPostgresConnectionsAsync()
    {
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(options.PostgresBase) { Pooling = false }.ConnectionString);
        await admin.OpenAsync();
        await using var cut = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname LIKE @prefix AND pid <> pg_backend_pid()", admin);
        cut.Parameters.AddWithValue("prefix", $"chaos\\_{runId}\\_%");
        return Convert.ToInt32(await cut.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Brings back whatever this run stopped; safe to call more than once.</summary>
    public async Task RestoreAsync()
    {
        if (RabbitStopped)
        {
            try
            {
                await StartRabbitAsync();
            }
            catch (Exception ex)
            {
                Log.Info($"restoring RabbitMQ failed: {ex.Message}");
            }
        }

        if (PostgresStopped)
        {
            try
            {
                await StartPostgresAsync();
            }
            catch (Exception ex)
            {
                Log.Info($"restoring PostgreSQL failed: {ex.Message}");
            }
        }
    }
}
