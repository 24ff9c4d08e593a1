using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sagas.Bench.Throughput.Infra;
using Sagas.Bench.Throughput.Load;

namespace Sagas.Bench.Throughput.Limits;

/// <summary>
/// The database's limit: pgbench with a script of N single-statement transactions (N = the commits per saga
/// ours made, coordinator and participants together), one script run standing for one saga. Latency per
/// script from pgbench's per-transaction log; with --rate, pgbench itself measures from the scheduled start.
/// </summary>
public sealed class PgBench(string executable, Postgres postgres, string baseConnectionString, string workDirectory, string database)
{
    public string Database => database;

    public async Task PrepareAsync()
    {
        await postgres.RecreateDatabaseAsync(Database);
        await postgres.ExecuteAsync(Database, "CREATE TABLE saga_rows (id bigserial PRIMARY KEY, saga bigint NOT NULL, n int NOT NULL, at timestamptz NOT NULL DEFAULT now())");
    }

    public Task DropAsync() => postgres.DropDatabaseAsync(Database);

    /// <summary>CPU seconds of the last pgbench process (sampled from /proc while it ran: an exited process has no /proc entry).</summary>
    public double LastCpuSeconds { get; private set; }

    public async Task<LoadResult> RunAsync(int commitsPerSaga, int clients, double rate, TimeSpan duration)
    {
        Directory.CreateDirectory(workDirectory);
        var script = Path.Combine(workDirectory, "saga.sql");
        var text = new StringBuilder("\\set saga random(1, 1000000000)\n");
        for (var i = 0; i < commitsPerSaga; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"INSERT INTO saga_rows (saga, n) VALUES (:saga, {i});\n");
        }

        await File.WriteAllTextAsync(script, text.ToString());
        foreach (var old in Directory.GetFiles(workDirectory, "pgbench_log*"))
        {
            File.Delete(old);
        }

        var settings = Settings(baseConnectionString);
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workDirectory };
        foreach (var arg in new[]
        {
            "-n", "-M", "prepared", "-f", script, "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2",
            "-T", ((int)Math.Ceiling(duration.TotalSeconds)).ToString(CultureInfo.InvariantCulture), "-l", "--log-prefix", "pgbench_log",
            "-h", settings["Host"], "-p", settings["Port"], "-U", settings["Username"], Database,
        })
        {
            start.ArgumentList.Add(arg);
        }

        if (rate > 0)
        {
            start.ArgumentList.Insert(0, "-R");
            start.ArgumentList.Insert(1, rate.ToString("0", CultureInfo.InvariantCulture));
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start pgbench");
        var outputTask = process.StandardOutput.ReadToEndAsync();
        var errorTask = process.StandardError.ReadToEndAsync();
        LastCpuSeconds = 0;
        while (!process.HasExited)
        {
            LastCpuSeconds = Math.Max(LastCpuSeconds, ProcessStats.CpuSeconds(process.Id));
            await Task.Delay(100);
        }

        await process.WaitForExitAsync();
        var output = await outputTask;
        var error = await errorTask;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"pgbench failed: {error}{output}");
        }

        var latencies = ReadLatencies();
        return new LoadResult(rate > 0 ? "open" : "closed", clients, rate, latencies.Count, 0, 0, latencies.Count, duration, latencies);
    }

    /// <summary>Per-transaction log lines: client, transaction number, latency in microseconds (from the scheduled start under --rate), ...</summary>
    private List<double> ReadLatencies()
    {
        var latencies = new List<double>();
        foreach (var file in Directory.GetFiles(workDirectory, "pgbench_log*"))
        {
            foreach (var line in File.ReadLines(file))
            {
                var fields = line.Split(' ');
                if (fields.Length > 2 && long.TryParse(fields[2], out var micros))
                {
                    latencies.Add(micros / 1000.0);
                }
            }
        }

        latencies.Sort();
        return latencies;
    }

    private static Dictionary<string, string> Settings(string connectionString)
    {
        var settings = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        settings.TryAdd("Host", "127.0.0.1");
        settings.TryAdd("Port", "5432");
        settings.TryAdd("Username", "postgres");
        return settings;
    }
}
