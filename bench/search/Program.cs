using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Sagas.Bench.Search;
using Sagas.Coordinator.Persistence;

// Search benchmark: N sagas in a dedicated PostgreSQL database, the real coordinator as a child process,
// client-side latency of GET /api/sagas and GET /api/compensations per query shape, EXPLAIN (ANALYZE, BUFFERS)
// of the SQL each shape runs. Last line: RESULT {json}. See docs/benchmarks.md.
var options = BenchOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};
var ct = cts.Token;

var server = new NpgsqlConnectionStringBuilder(options.Postgres) { Database = "postgres", Pooling = false }.ConnectionString;
var benchDb = new NpgsqlConnectionStringBuilder(options.Postgres) { Database = options.Database }.ConnectionString;
Process? coordinator = null;
var exitCode = 1;
try
{
    var exists = await Scalar<bool>(server, $"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{options.Database}')", ct);
    if (options.Reuse && exists)
    {
        Console.WriteLine($"Reusing database {options.Database} (no load).");
    }
    else
    {
        Console.WriteLine($"Creating database {options.Database} and applying the coordinator's migrations...");
        await DropDatabase(server, options.Database, ct);
        await Execute(server, $"CREATE DATABASE \"{options.Database}\"", ct);
        await using (var db = new PostgresSagasDbContext(new DbContextOptionsBuilder<PostgresSagasDbContext>().UseNpgsql(benchDb).Options))
        {
            await db.Database.MigrateAsync(ct);
        }

        Console.WriteLine($"Loading {options.Sagas:N0} sagas (binary COPY, seed {options.Seed})...");
        var load = Stopwatch.StartNew();
        await Loader.LoadAsync(benchDb, options.Sagas, options.Seed, DateTime.UtcNow, ct);
        Console.WriteLine($"Loaded in {load.Elapsed.TotalSeconds:0.0} s.");
    }

    var sagaCount = await Scalar<long>(benchDb, "SELECT count(*) FROM sagas", ct);
    var compensationCount = await Scalar<long>(benchDb, "SELECT count(*) FROM compensations", ct);
    var failedCompensations = await Scalar<long>(benchDb, "SELECT count(*) FROM compensations WHERE \"Outcome\" = 'failed'", ct);
    var oldest = (await Scalar<DateTime>(benchDb, "SELECT min(\"CreatedAt\") FROM sagas", ct)).ToUniversalTime();
    var newest = (await Scalar<DateTime>(benchDb, "SELECT max(\"CreatedAt\") FROM sagas", ct)).ToUniversalTime();
    var keys = await Strings(benchDb, "SELECT \"BusinessKey\" FROM sagas TABLESAMPLE SYSTEM (1) REPEATABLE (7) WHERE \"BusinessKey\" IS NOT NULL LIMIT 2000", ct);
    var sizes = await Strings(benchDb, "SELECT pg_size_pretty(pg_total_relation_size('sagas')) || ' sagas, ' || pg_size_pretty(pg_total_relation_size('compensations')) || ' compensations (with indexes)'", ct);
    Console.WriteLine($"Data: {sagaCount:N0} sagas, {compensationCount:N0} compensations ({failedCompensations:N0} failed); {sizes[0]}.");
    if (keys.Count == 0)
    {
        throw new InvalidOperationException("no business keys sampled; is the database empty?");
    }

    Console.WriteLine("Computing deep cursors (rows 2.5%..25% into each ordered set)...");
    var deep = new DeepCursors(
        await CursorsAt(benchDb, "SELECT \"CreatedAt\", \"Id\", NULL::text FROM sagas ORDER BY \"CreatedAt\" DESC, \"Id\" DESC", sagaCount, ct),
        await CursorsAt(benchDb, "SELECT \"CreatedAt\", \"Id\", NULL::text FROM sagas WHERE \"State\" = 'Failed' ORDER BY \"CreatedAt\" DESC, \"Id\" DESC",
            await Scalar<long>(benchDb, "SELECT count(*) FROM sagas WHERE \"State\" = 'Failed'", ct), ct),
        await CursorsAt(benchDb, "SELECT \"UpdatedAt\", \"SagaId\", \"Step\" FROM compensations WHERE \"Outcome\" = 'succeeded' ORDER BY \"UpdatedAt\" DESC, \"SagaId\" DESC, \"Step\" DESC",
            await Scalar<long>(benchDb, "SELECT count(*) FROM compensations WHERE \"Outcome\" = 'succeeded'", ct), ct));

    var apiKey = "bench_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
    var port = FreePort();
    coordinator = StartCoordinator(options.CoordinatorDll, benchDb, port, apiKey);
    using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
    await WaitReady(http, coordinator, ct);

    var rng = new Random(options.Seed);
    var shapes = Shapes.All(keys, oldest, newest, deep);
    Console.WriteLine($"Warm-up: {options.Warmup} requests per shape (all shapes first, so JIT tiering and caches settle before any timing)...");
    foreach (var shape in shapes)
    {
        for (var i = 0; i < (shape.Slow ? Math.Min(5, options.Warmup) : options.Warmup); i++)
        {
            await Get(http, shape.Next(rng).Url(), ct);
        }
    }

    var results = new List<ShapeResult>();
    foreach (var shape in shapes)
    {
        var result = await Measure(http, shape, rng, options, ct);
        result.Plan = await Explain(benchDb, result.ExplainQuery, ct);
        results.Add(result);
        Console.WriteLine($"  {shape.Name}: p50 {result.P(0.50):0.00} ms, p99 {result.P(0.99):0.00} ms, {result.AverageRows:0.#} rows/page, plan: {result.PlanSummary}");
    }

    Report(results, options, sagaCount, compensationCount);
    exitCode = 0;
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    Console.Error.WriteLine("cancelled");
}
finally
{
    if (coordinator is { HasExited: false })
    {
        coordinator.Kill(entireProcessTree: true);
        await coordinator.WaitForExitAsync(CancellationToken.None);
    }

    coordinator?.Dispose();
    NpgsqlConnection.ClearAllPools();
    if (options.Keep)
    {
        Console.WriteLine($"Kept database {options.Database} (--keep); drop it with: psql -c 'DROP DATABASE \"{options.Database}\" WITH (FORCE)'");
    }
    else
    {
        await DropDatabase(server, options.Database, CancellationToken.None);
        Console.WriteLine($"Dropped database {options.Database}.");
    }
}

return exitCode;

static async Task<ShapeResult> Measure(HttpClient http, Shape shape, Random rng, BenchOptions options, CancellationToken ct)
{
    var result = new ShapeResult(shape.Name);
    if (shape.DeepPages > 0)
    {
        // Each walk: the first page (not timed), then DeepPages pages following nextCursor (each one timed).
        await Walk(http, shape, rng, Math.Min(10, shape.DeepPages), null, ct);
        var walks = Math.Max(1, (int)Math.Ceiling(options.Requests / (double)shape.DeepPages));
        for (var w = 0; w < walks; w++)
        {
            result.ExplainQuery = await Walk(http, shape, rng, shape.DeepPages, result, ct);
        }

        return result;
    }

    // EXPLAIN a fixed representative request of the shape (the seed's first draw), not the last random one.
    result.ExplainQuery = shape.Next(new Random(options.Seed));
    // Deep-cursor shapes are slow with a non-sargable keyset predicate; a quarter of the requests keeps the run bounded.
    var requests = shape.Slow ? Math.Max(10, options.Requests / 4) : options.Requests;
    for (var i = 0; i < requests; i++)
    {
        var page = await Get(http, shape.Next(rng).Url(), ct);
        result.Add(page);
    }

    return result;
}

static async Task<Query> Walk(HttpClient http, Shape shape, Random rng, int pages, ShapeResult? result, CancellationToken ct)
{
    var query = shape.Next(rng);
    var page = await Get(http, query.Url(), ct);
    for (var p = 0; p < pages && page.NextCursor is not null; p++)
    {
        query = query with { Cursor = page.NextCursor };
        page = await Get(http, query.Url(), ct);
        result?.Add(page);
    }

    return query;
}

static async Task<Page> Get(HttpClient http, string url, CancellationToken ct)
{
    var watch = Stopwatch.StartNew();
    using var response = await http.GetAsync(url, ct);
    var body = await response.Content.ReadAsByteArrayAsync(ct);
    var elapsed = watch.Elapsed.TotalMilliseconds;
    if (response.StatusCode != HttpStatusCode.OK)
    {
        throw new InvalidOperationException($"GET {url} returned {(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
    }

    using var json = JsonDocument.Parse(body);
    var next = json.RootElement.GetProperty("nextCursor");
    return new Page(elapsed, json.RootElement.GetProperty("items").GetArrayLength(), next.ValueKind == JsonValueKind.String ? next.GetString() : null);
}

static async Task<List<string>> Explain(string connectionString, Query? query, CancellationToken ct)
{
    if (query is null)
    {
        return ["(no query)"];
    }

    await using var db = new PostgresSagasDbContext(new DbContextOptionsBuilder<PostgresSagasDbContext>().UseNpgsql(connectionString).Options);
    var lines = new List<string>();
    await db.Database.OpenConnectionAsync(ct);
    for (var run = 0; run < 2; run++)
    {
        // Run twice and keep the second (warm) plan, like the measured requests which follow a warm-up.
        lines.Clear();
        await using var cmd = query.ToQueryable(db).CreateDbCommand();
        lines.Add("-- " + Regex.Replace(cmd.CommandText, @"\s+", " "));
        lines.Add("-- parameters: " + string.Join(", ", cmd.Parameters.Cast<System.Data.Common.DbParameter>().Select(p => $"{p.ParameterName}={Format(p.Value)}")));
        cmd.CommandText = "EXPLAIN (ANALYZE, BUFFERS) " + cmd.CommandText;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            lines.Add(reader.GetString(0));
        }
    }

    return lines;

    static string Format(object? value) => value switch
    {
        null => "null",
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        DateTime d => d.ToString("O", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };
}

static void Report(List<ShapeResult> results, BenchOptions options, long sagas, long compensations)
{
    var md = new StringBuilder();
    md.AppendLine();
    md.AppendLine(CultureInfo.InvariantCulture, $"### Latency ({sagas:N0} sagas, {compensations:N0} compensations; {options.Requests} timed requests per shape (a quarter for the deep-cursor shapes) after {options.Warmup} warm-up each, sequential, one client)");
    md.AppendLine();
    md.AppendLine("| Shape | Requests | Rows/page | p50 ms | p95 ms | p99 ms | max ms | SQL exec ms (EXPLAIN) | Plan |");
    md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    foreach (var r in results)
    {
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| {r.Name} | {r.Count} | {r.AverageRows:0.#} | {r.P(0.50):0.00} | {r.P(0.95):0.00} | {r.P(0.99):0.00} | {r.Max:0.00} | {r.ExecutionMs} | {r.PlanSummary} |");
    }

    md.AppendLine();
    md.AppendLine("### EXPLAIN (ANALYZE, BUFFERS), second run, one representative request per shape");
    foreach (var r in results)
    {
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"#### {r.Name}");
        md.AppendLine();
        md.AppendLine("```");
        foreach (var line in r.Plan)
        {
            md.AppendLine(line);
        }

        md.AppendLine("```");
    }

    Console.WriteLine(md.ToString());
    var maxP99 = results.Max(r => r.P(0.99));
    var summary = new Dictionary<string, object>
    {
        ["sagas"] = sagas,
        ["compensations"] = compensations,
        ["requests_per_shape"] = options.Requests,
        ["p99_ms"] = results.ToDictionary(r => r.Name, r => Math.Round(r.P(0.99), 2)),
        ["max_p99_ms"] = Math.Round(maxP99, 2),
        ["target_p99_ms"] = 50,
        ["pass"] = maxP99 < 50,
    };
    Console.WriteLine("RESULT " + JsonSerializer.Serialize(summary));
}

static Process StartCoordinator(string dll, string connectionString, int port, string apiKey)
{
    if (!File.Exists(dll))
    {
        throw new FileNotFoundException($"coordinator not built: {dll} (dotnet build src/Coordinator -c Release)");
    }

    var start = new ProcessStartInfo("dotnet")
    {
        WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(dll))!,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        UseShellExecute = false,
    };
    start.ArgumentList.Add(Path.GetFullPath(dll));
    start.ArgumentList.Add("--urls");
    start.ArgumentList.Add($"http://127.0.0.1:{port}");
    var env = start.Environment;
    env["ASPNETCORE_ENVIRONMENT"] = "Production";
    env["Sagas__Mode"] = "Embedded"; // no broker: the search benchmark sends no commands
    env["Sagas__Database__Provider"] = "Postgres";
    env["Sagas__Database__MigrateOnStart"] = "false";
    env["ConnectionStrings__Sagas"] = connectionString;
    env["Sagas__Transport__Kind"] = "InMemory";
    env["Sagas__HostSampleParticipants"] = "false";
    env["Sagas__Auth__ApiKeys__0__Name"] = "bench";
    env["Sagas__Auth__ApiKeys__0__Key"] = apiKey;
    env["Sagas__Auth__ApiKeys__0__Role"] = "Admin";
    env["Logging__LogLevel__Default"] = "Warning";
    var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the coordinator");
    var tail = new Queue<string>();
    void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (tail)
        {
            tail.Enqueue(line);
            if (tail.Count > 40)
            {
                tail.Dequeue();
            }
        }
    }

    process.OutputDataReceived += (_, e) => Keep(e.Data);
    process.ErrorDataReceived += (_, e) => Keep(e.Data);
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    CoordinatorLog.Tail = tail;
    Console.WriteLine($"Coordinator started (pid {process.Id}) on http://127.0.0.1:{port}.");
    return process;
}

static async Task WaitReady(HttpClient http, Process coordinator, CancellationToken ct)
{
    var deadline = Stopwatch.StartNew();
    while (deadline.Elapsed < TimeSpan.FromSeconds(90))
    {
        if (coordinator.HasExited)
        {
            throw new InvalidOperationException($"the coordinator exited with {coordinator.ExitCode}:\n{CoordinatorLog.Text()}");
        }

        try
        {
            using var response = await http.GetAsync("/health/ready", ct);
            if (response.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
            // not listening yet
        }

        await Task.Delay(250, ct);
    }

    throw new TimeoutException($"the coordinator was not ready within 90 s:\n{CoordinatorLog.Text()}");
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static async Task DropDatabase(string server, string name, CancellationToken ct) =>
    await Execute(server, $"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", ct);

static async Task Execute(string connectionString, string sql, CancellationToken ct)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync(ct);
    await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
    await cmd.ExecuteNonQueryAsync(ct);
}

static async Task<T> Scalar<T>(string connectionString, string sql, CancellationToken ct)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync(ct);
    await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
    return (T)(await cmd.ExecuteScalarAsync(ct))!;
}

static async Task<List<string>> CursorsAt(string connectionString, string orderedSql, long count, CancellationToken ct)
{
    // Rows at 2.5%, 5%, ... 25% of the ordered set: what a client has after following nextCursor for count/50 * 2.5% pages.
    var cursors = new List<string>();
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync(ct);
    for (var k = 1; k <= 10; k++)
    {
        await using var cmd = new NpgsqlCommand($"{orderedSql} OFFSET {count * k / 40} LIMIT 1", connection) { CommandTimeout = 0 };
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (await reader.ReadAsync(ct))
        {
            var time = new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(0), DateTimeKind.Utc), TimeSpan.Zero);
            cursors.Add(Sagas.Coordinator.Api.Paging.EncodeCursor(new Sagas.Coordinator.Api.Cursor(time, reader.GetGuid(1), reader.IsDBNull(2) ? null : reader.GetString(2))));
        }
    }

    return cursors.Count > 0 ? cursors : throw new InvalidOperationException("no rows for deep cursors: " + orderedSql);
}

static async Task<List<string>> Strings(string connectionString, string sql, CancellationToken ct)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync(ct);
    await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
    await using var reader = await cmd.ExecuteReaderAsync(ct);
    var list = new List<string>();
    while (await reader.ReadAsync(ct))
    {
        list.Add(reader.GetString(0));
    }

    return list;
}
