using System.Globalization;
using System.Text.RegularExpressions;

namespace Sagas.Bench.Search;

internal sealed record Page(double Milliseconds, int Rows, string? NextCursor);

/// <summary>Timings of one shape and the EXPLAIN of a representative request.</summary>
internal sealed partial class ShapeResult(string name)
{
    private readonly List<double> _ms = [];
    private long _rows;

    public string Name { get; } = name;

    public Query? ExplainQuery { get; set; }

    public List<string> Plan { get; set; } = [];

    public int Count => _ms.Count;

    public double Max => _ms.Count == 0 ? 0 : _ms.Max();

    public double AverageRows => _ms.Count == 0 ? 0 : _rows / (double)_ms.Count;

    public void Add(Page page)
    {
        _ms.Add(page.Milliseconds);
        _rows += page.Rows;
    }

    /// <summary>Nearest-rank percentile.</summary>
    public double P(double p)
    {
        if (_ms.Count == 0)
        {
            return 0;
        }

        var sorted = _ms.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    public string ExecutionMs =>
        Plan.Select(l => ExecutionTime().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value ?? "?";

    /// <summary>The access paths of the plan: index names (with Only/Backward), seq scans, sorts.</summary>
    public string PlanSummary
    {
        get
        {
            var parts = new List<string>();
            foreach (var line in Plan.Where(l => !l.StartsWith("--", StringComparison.Ordinal)))
            {
                var index = IndexScan().Match(line);
                if (index.Success)
                {
                    parts.Add($"{index.Groups[1].Value.Trim()} {index.Groups[2].Value}".Replace("  ", " ", StringComparison.Ordinal));
                    continue;
                }

                var other = OtherNode().Match(line);
                if (other.Success)
                {
                    parts.Add(other.Groups[1].Value.Trim());
                }
            }

            return string.Join(" → ", parts.Distinct());
        }
    }

    [GeneratedRegex(@"Execution Time: ([0-9.]+) ms")]
    private static partial Regex ExecutionTime();

    [GeneratedRegex(@"((?:Bitmap )?Index (?:Only )?Scan(?: Backward)?) (?:using|on) (""?[A-Za-z_]+""?)")]
    private static partial Regex IndexScan();

    [GeneratedRegex(@"(?:->|^)\s*(Seq Scan on \w+|Incremental Sort|Sort|Bitmap Heap Scan on \w+|BitmapOr)")]
    private static partial Regex OtherNode();
}

internal static class CoordinatorLog
{
    public static Queue<string> Tail { get; set; } = new();

    public static string Text()
    {
        lock (Tail)
        {
            return string.Join('\n', Tail);
        }
    }
}

internal sealed record BenchOptions(
    int Sagas, int Requests, int Warmup, int Seed, bool Keep, bool Reuse, string Database, string Postgres, string CoordinatorDll)
{
    public const string Usage =
        "usage: Sagas.Bench.Search --coordinator <Sagas.Coordinator.dll> [--sagas N (1000000)] [--requests N (200)] [--warmup N (20)]\n" +
        "       [--seed N (42)] [--database NAME (sagas_bench_search)] [--keep] [--reuse]\n" +
        "PostgreSQL: SAGAS_TEST_POSTGRES (default Host=127.0.0.1;Port=55432;Username=postgres). --reuse skips the load when the database exists.";

    public static BenchOptions? Parse(string[] args)
    {
        var o = new BenchOptions(
            1_000_000, 200, 20, 42, false, false, "sagas_bench_search",
            Environment.GetEnvironmentVariable("SAGAS_TEST_POSTGRES") is { Length: > 0 } pg ? pg : "Host=127.0.0.1;Port=55432;Username=postgres",
            "");
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Number() => int.Parse(Value(), NumberStyles.None, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--sagas": o = o with { Sagas = Number() }; break;
                case "--requests": o = o with { Requests = Number() }; break;
                case "--warmup": o = o with { Warmup = Number() }; break;
                case "--seed": o = o with { Seed = Number() }; break;
                case "--database": o = o with { Database = Value() }; break;
                case "--coordinator": o = o with { CoordinatorDll = Value() }; break;
                case "--keep": o = o with { Keep = true }; break;
                case "--reuse": o = o with { Reuse = true }; break;
                default: return null;
            }
        }

        var validName = Regex.IsMatch(o.Database, "^[a-z_][a-z0-9_]{0,62}$", RegexOptions.None, TimeSpan.FromSeconds(1));
        return validName && o.Sagas > 0 && o.Requests > 0 && o.CoordinatorDll.Length > 0 ? o : null;
    }
}
