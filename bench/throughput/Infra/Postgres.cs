using Npgsql;

namespace Sagas.Bench.Throughput.Infra;

/// <summary>Creates and drops the benchmark's own databases and reads their commit counters.</summary>
public sealed class Postgres(string baseConnectionString)
{
    public string ConnectionString(string database) => $"{baseConnectionString};Database={database}";

    // Unpooled: a pooled idle connection to a database dropped WITH (FORCE) would fail its next user with 57P01.
    private string AdminConnectionString(string database) => $"{ConnectionString(database)};Pooling=false";

    public async Task RecreateDatabaseAsync(string database)
    {
        await DropDatabaseAsync(database);
        await AdminAsync($"CREATE DATABASE \"{database}\"");
    }

    public Task DropDatabaseAsync(string database) => AdminAsync($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");

    public async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<long> ScalarAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<bool> TableExistsAsync(string database, string table)
    {
        try
        {
            return await ScalarAsync(database, $"SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'") > 0;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            return false;
        }
    }

    /// <summary>
    /// Committed transactions of the given databases (pg_stat_database.xact_commit), read from the
    /// <c>postgres</c> database so that reading does not count. Read-only transactions count too.
    /// </summary>
    public async Task<long> CommitsAsync(IReadOnlyCollection<string> databases)
    {
        if (databases.Count == 0)
        {
            return 0;
        }

        var names = string.Join(",", databases.Select(d => $"'{d}'"));
        return await ScalarAsync("postgres", $"SELECT coalesce(sum(xact_commit), 0)::bigint FROM pg_stat_database WHERE datname IN ({names})");
    }

    /// <summary>The client backends connected now, by process id, with their database.</summary>
    public async Task<Dictionary<int, string>> BackendDatabasesAsync()
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pid, datname FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname IS NOT NULL", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var backends = new Dictionary<int, string>();
        while (await reader.ReadAsync())
        {
            backends[reader.GetInt32(0)] = reader.GetString(1);
        }

        return backends;
    }

    private async Task AdminAsync(string sql) => await ExecuteAsync("postgres", sql);
}
