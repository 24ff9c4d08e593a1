using System.Globalization;

namespace Sagas.Bench.Throughput;

/// <summary>Command-line options of the benchmark run (see scripts/bench.sh for the documented set).</summary>
public sealed class BenchOptions
{
    public static readonly string[] AllSystems = ["ours", "inmemory", "courier", "wolverine", "pgbench", "rabbitmq", "ours-samples"];

    public bool Quick { get; private set; }

    public List<string> Systems { get; } = [.. AllSystems];

    public List<int> Concurrencies { get; } = [8, 32, 128];

    /// <summary>Load before any measurement (JIT, connection pools), per system.</summary>
    public TimeSpan Warmup { get; private set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first part of each phase, not counted (the previous phase's level settles).</summary>
    public TimeSpan PhaseWarmup { get; private set; } = TimeSpan.FromSeconds(3);

    public TimeSpan ClosedDuration { get; private set; } = TimeSpan.FromSeconds(15);

    public TimeSpan OpenDuration { get; private set; } = TimeSpan.FromSeconds(20);

    /// <summary>Sagas started at once, participants stopped, for the coordinator's peak memory; 0 skips it.</summary>
    public int InFlight { get; private set; } = 10_000;

    public string Postgres { get; private set; } = Environment.GetEnvironmentVariable("SAGAS_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=55432;Username=postgres";

    public string RabbitMqHost { get; private set; } = "127.0.0.1";

    /// <summary>Names this run's vhost and databases (<c>{prefix}_coordinator</c>, ...): unique per run, so two runs never share them.</summary>
    public string Prefix { get; private set; } = $"bench{Environment.ProcessId}";

    public string VirtualHost => Prefix;

    public string CoordinatorDll { get; private set; } = "src/Coordinator/bin/Release/net10.0/Sagas.Coordinator.dll";

    public string ParticipantsDll { get; private set; } = "src/Participants/Sagas.Samples.Host/bin/Release/net10.0/Sagas.Samples.Host.dll";

    public string PgBench { get; private set; } = "";

    public string LogDirectory { get; private set; } = ".data/bench/logs";

    public bool Keep { get; private set; }

    /// <summary>Have PostgreSQL log every statement of ours' coordinator database (log_min_duration_statement = 0 on that database only).</summary>
    public bool LogCoordinatorSql { get; private set; }

    /// <summary>
    /// Run without /tmp/sagas-services.lock. Only for a stuck lock: e.g. a PostgreSQL or RabbitMQ started under
    /// `flock` inherits the lock's file descriptor and holds it for as long as it runs.
    /// </summary>
    public bool NoLock { get; private set; }

    /// <summary>Extra environment for ours' coordinator (KEY=VALUE), e.g. to log its SQL or try a setting.</summary>
    public Dictionary<string, string> CoordinatorEnvironment { get; } = [];

    /// <summary>Extra environment for ours' participants host (KEY=VALUE), e.g. to try a runtime setting.</summary>
    public Dictionary<string, string> ParticipantsEnvironment { get; } = [];

    /// <summary>Open-loop rate; 0 = half of ours' peak (or of the system's own peak when ours is not run).</summary>
    public double Rate { get; private set; }

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        var systemsGiven = false;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--quick":
                    options.ApplyQuick();
                    break;
                case "--systems":
                    systemsGiven = true;
                    options.Systems.Clear();
                    options.Systems.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    break;
                case "--concurrency":
                    options.Concurrencies.Clear();
                    options.Concurrencies.AddRange(Next().Split(',').Select(c => Count("--concurrency", c)));
                    break;
                case "--warmup": options.Warmup = Seconds(args[i], Next()); break;
                case "--phase-warmup": options.PhaseWarmup = Seconds(args[i], Next()); break;
                case "--duration": options.ClosedDuration = Seconds(args[i], Next()); break;
                case "--open-duration": options.OpenDuration = Seconds(args[i], Next()); break;
                case "--in-flight": options.InFlight = Count(args[i], Next(), min: 0); break;
                case "--postgres": options.Postgres = Next(); break;
                case "--prefix": options.Prefix = Next(); break;
                case "--coordinator": options.CoordinatorDll = Next(); break;
                case "--participants": options.ParticipantsDll = Next(); break;
                case "--pgbench": options.PgBench = Next(); break;
                case "--logs": options.LogDirectory = Next(); break;
                case "--rate": options.Rate = Number(args[i], Next()); break;
                case "--coordinator-env": AddPair(options.CoordinatorEnvironment, Next()); break;
                case "--participants-env": AddPair(options.ParticipantsEnvironment, Next()); break;
                case "--keep": options.Keep = true; break;
                case "--log-coordinator-sql": options.LogCoordinatorSql = true; break;
                case "--no-lock": options.NoLock = true; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        if (options.Quick && !systemsGiven)
        {
            // Not compared with anything: --quick keeps its three minutes by leaving it out unless asked for.
            options.Systems.Remove(Sagas.Bench.Throughput.Systems.OursSystem.SamplesName);
        }

        var unknown = options.Systems.Except(AllSystems).ToList();
        return unknown.Count > 0 ? throw new ArgumentException($"unknown system(s): {string.Join(", ", unknown)}") : options;
    }

    public string Database(string name) => $"{Prefix}_{name}";

    /// <summary>Fits the whole comparison in under three minutes: short phases, two concurrencies, a smaller in-flight test.</summary>
    private void ApplyQuick()
    {
        Quick = true;
        Concurrencies.Clear();
        Concurrencies.AddRange([32, 128]);
        Warmup = TimeSpan.FromSeconds(2);
        PhaseWarmup = TimeSpan.FromSeconds(1);
        ClosedDuration = TimeSpan.FromSeconds(3);
        OpenDuration = TimeSpan.FromSeconds(5);
        InFlight = 2_000;
    }

    private static void AddPair(Dictionary<string, string> environment, string pair)
    {
        var parts = pair.Split('=', 2);
        environment[parts[0]] = parts.Length > 1 ? parts[1] : "";
    }

    private static TimeSpan Seconds(string option, string value) => TimeSpan.FromSeconds(Number(option, value));

    /// <summary>A number of zero or more (seconds, a rate), or a clear error naming the option.</summary>
    private static double Number(string option, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0 && double.IsFinite(number)
            ? number
            : throw new ArgumentException($"{option} needs a number of zero or more, not '{value}'");

    /// <summary>A whole number of at least <paramref name="min"/> (sagas in flight), or a clear error naming the option.</summary>
    private static int Count(string option, string value, int min = 1) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count) && count >= min
            ? count
            : throw new ArgumentException($"{option} needs a whole number of {min} or more, not '{value}'");
}
