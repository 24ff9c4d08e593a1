using System.Diagnostics;
using Npgsql;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// Real RabbitMQ and PostgreSQL: the local servers when SAGAS_TEST_RABBITMQ and SAGAS_TEST_POSTGRES are set
/// (./scripts/test.sh sets them), Testcontainers otherwise. Each fixture gets its own vhost and databases.
/// </summary>
public static class TestServices
{
    public const string RabbitMqVariable = "SAGAS_TEST_RABBITMQ";
    public const string PostgresVariable = "SAGAS_TEST_POSTGRES";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static RabbitMqContainer? _rabbit;
    private static PostgreSqlContainer? _postgres;
    private static (Uri Rabbit, string Postgres)? _resolved;

    public static async Task<(Uri Rabbit, string Postgres)> GetAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_resolved is { } known)
            {
                return known;
            }

            var rabbit = Environment.GetEnvironmentVariable(RabbitMqVariable);
            var postgres = Environment.GetEnvironmentVariable(PostgresVariable);
            if (string.IsNullOrWhiteSpace(rabbit))
            {
                _rabbit = new RabbitMqBuilder("rabbitmq:3.13-management").Build();
                await _rabbit.StartAsync();
                rabbit = _rabbit.GetConnectionString();
            }

            if (string.IsNullOrWhiteSpace(postgres))
            {
                _postgres = new PostgreSqlBuilder("postgres:16").Build();
                await _postgres.StartAsync();
                postgres = _postgres.GetConnectionString();
            }

            _resolved = (new Uri(rabbit), postgres);
            return _resolved.Value;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>A fresh vhost, so queues of one fixture never see another's messages.</summary>
    public static async Task<Uri> CreateVhostAsync(Uri broker, string vhost)
    {
        string[] add = ["add_vhost", vhost];
        string[] grant = ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"];
        if (_rabbit is not null)
        {
            await _rabbit.ExecAsync(["rabbitmqctl", .. add]);
            await _rabbit.ExecAsync(["rabbitmqctl", .. grant]);
        }
        else
        {
            await RunAsync("rabbitmqctl", add);
            await RunAsync("rabbitmqctl", grant);
        }

        return new UriBuilder(broker) { Path = "/" + Uri.EscapeDataString(vhost) }.Uri;
    }

    /// <summary>
    /// Deletes a vhost made by <see cref="CreateVhostAsync"/>, best effort. Left behind, vhosts make every later
    /// restart of RabbitMQ recover their queues: 45 s here with 230 of them, against 1 s without.
    /// </summary>
    public static async Task DeleteVhostAsync(string vhost)
    {
        string[] delete = ["delete_vhost", vhost];
        try
        {
            if (_rabbit is not null)
            {
                await _rabbit.ExecAsync(["rabbitmqctl", .. delete]);
            }
            else
            {
                await RunAsync("rabbitmqctl", delete);
            }
        }
        catch (InvalidOperationException)
        {
            // Gone already, or the broker is down: scripts/test.sh sweeps leftovers before the chaos run.
        }
    }

    /// <summary>Disposing it deletes the vhost.</summary>
    public static IAsyncDisposable OwnVhost(string vhost) => new VhostOwner(vhost);

    private sealed class VhostOwner(string vhost) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await DeleteVhostAsync(vhost);
    }

    /// <summary>
    /// Drops a fixture's databases, best effort: <paramref name="name"/> and every <c>{name}_*</c> (the participants'),
    /// closing their connections first. Npgsql keeps a closed connection open in its pool for minutes, so without this
    /// the idle connections of finished fixtures pile up until the server refuses new clients (max_connections).
    /// </summary>
    public static async Task DropDatabasesAsync(string name)
    {
        // The integration tests run one class at a time, so no other fixture is using a pool at this moment.
        NpgsqlConnection.ClearAllPools();
        var (_, postgres) = await GetAsync();
        try
        {
            await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(postgres) { Database = "postgres", Pooling = false }.ConnectionString);
            await admin.OpenAsync();
            var databases = new List<string>();
            await using (var find = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datname = @name OR starts_with(datname, @name || '_')", admin))
            {
                find.Parameters.AddWithValue("name", name);
                await using var reader = await find.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    databases.Add(reader.GetString(0));
                }
            }

            foreach (var database in databases)
            {
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", admin);
                await drop.ExecuteNonQueryAsync();
            }
        }
        catch (NpgsqlException)
        {
            // The server is down (a chaos test stopped it): scripts/test.sh sweeps leftovers at the end of the run.
        }
    }

    /// <summary>Disposing it drops the databases, as <see cref="DropDatabasesAsync"/>.</summary>
    public static IAsyncDisposable OwnDatabases(string name) => new DatabaseOwner(name);

    private sealed class DatabaseOwner(string name) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await DropDatabasesAsync(name);
    }

    private static async Task RunAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        }
    }
}
