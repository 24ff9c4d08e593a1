using System.Globalization;

namespace Sagas.Chaos;

/// <summary>The fault kinds the runner can inject. <see cref="Duplicates"/> is a standing condition, the rest are events at random instants.</summary>
public static class FaultKinds
{
    public const string CoordinatorKill = "coordinator-kill";
    public const string ParticipantKill = "participant-kill";

    /// <summary>SIGSTOP a participant for longer than the step timeout: the coordinator's timeouts fire, the work may still happen later.</summary>
    public const string ParticipantFreeze = "participant-freeze";
    public const string RabbitMq = "rabbitmq";

    /// <summary>
    /// RabbitMQ stopped while a participant has a full hand of messages in flight (it was frozen until commands piled
    /// up): its handlers lose the connection mid-reply, and its endpoint must still come back.
    /// </summary>
    public const string RabbitMqInFlight = "rabbitmq-in-flight";
    public const string Postgres = "postgres";

    /// <summary>Terminate every server connection of the run's databases (pg_terminate_backend).</summary>
    public const string PostgresCut = "postgres-cut";

    /// <summary>Coordinator instance 0 sends every outgoing message twice (Sagas:DuplicateDelivery).</summary>
    public const string Duplicates = "duplicates";

    /// <summary>Genuine replies and commands published again, late and out of order (taken from the participants' barrier rows).</summary>
    public const string Replay = "replay";
    public const string Poison = "poison";

    public static readonly IReadOnlyList<string> All =
        [CoordinatorKill, ParticipantKill, ParticipantFreeze, RabbitMq, RabbitMqInFlight, Postgres, PostgresCut, Duplicates, Replay, Poison];

    /// <summary>Kinds that happen at random instants (all but the standing ones).</summary>
    public static readonly IReadOnlyList<string> Events =
        [CoordinatorKill, ParticipantKill, ParticipantFreeze, RabbitMq, RabbitMqInFlight, Postgres, PostgresCut, Replay, Poison];
}

public sealed class ChaosOptions
{
    public int Sagas { get; private set; } = 300;

    public int DurationSeconds { get; private set; } = 60;

    public int Seed { get; private set; } = 1;

    public int Coordinators { get; private set; } = 2;

    /// <summary>After the fault phase: how long every saga gets to reach a terminal state.</summary>
    public int DrainSeconds { get; private set; } = 120;

    /// <summary>
    /// Sagas that may end Failed (a compensation that gave up: it needs a person) before the run fails. 0 by default:
    /// every fault here ends, so every saga must end done or undone; raise it only for overload runs.
    /// </summary>
    public int MaxFailed { get; private set; }

    /// <summary>The program stops by itself after this, whatever happens.</summary>
    public int HardTimeoutSeconds { get; private set; }

    public HashSet<string> Faults { get; } = new(FaultKinds.All, StringComparer.Ordinal);

    /// <summary>Keep the vhost and databases even when the run passes.</summary>
    public bool Keep { get; private set; }

    public string? RepoRoot { get; private set; }

    /// <summary>Self-check of the oracle: corrupt the ledgers after the drain; the run must then fail.</summary>
    public bool Tamper { get; private set; }

    public string PostgresBase { get; private set; } =
        Environment.GetEnvironmentVariable("SAGAS_TEST_POSTGRES") is { Length: > 0 } pg ? pg : "Host=127.0.0.1;Port=55432;Username=postgres";

    public Uri RabbitBase { get; private set; } =
        new(Environment.GetEnvironmentVariable("SAGAS_TEST_RABBITMQ") is { Length: > 0 } r ? r : "amqp://guest:guest@127.0.0.1:5672/");

    public const string Usage = """
        usage: Sagas.Chaos [--sagas N] [--duration SECONDS] [--seed S] [--faults all|none|k1,k2,...] [--no-fault k]
                           [--coordinators N] [--drain SECONDS] [--timeout SECONDS] [--keep] [--root DIR] [--tamper]
                           [--max-failed N]
        fault kinds: coordinator-kill, participant-kill, participant-freeze, rabbitmq, rabbitmq-in-flight, postgres,
                     postgres-cut, duplicates, replay, poison
        """;

    public static ChaosOptions Parse(string[] args)
    {
        var o = new ChaosOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int NextInt(int min) => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min
                ? v
                : throw new ArgumentException($"{args[i - 1]} needs a whole number >= {min}");
            switch (args[i])
            {
                case "--sagas": o.Sagas = NextInt(1); break;
                case "--duration": o.DurationSeconds = NextInt(5); break;
                case "--seed": o.Seed = NextInt(0); break;
                case "--coordinators": o.Coordinators = NextInt(1); break;
                case "--drain": o.DrainSeconds = NextInt(10); break;
                case "--timeout": o.HardTimeoutSeconds = NextInt(30); break;
                case "--max-failed": o.MaxFailed = NextInt(0); break;
                case "--keep": o.Keep = true; break;
                case "--tamper": o.Tamper = true; break;
                case "--root": o.RepoRoot = Next(); break;
                case "--faults": o.SetFaults(Next()); break;
                case "--no-fault": o.RemoveFault(Next()); break;
                case "--help" or "-h": throw new ArgumentException("");
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        if (o.HardTimeoutSeconds == 0)
        {
            // Start-up + fault phase + drain + checking, with room for a slow machine.
            o.HardTimeoutSeconds = o.DurationSeconds + o.DrainSeconds + 150;
        }

        return o;
    }

    private void SetFaults(string list)
    {
        Faults.Clear();
        if (list == "none")
        {
            return;
        }

        if (list == "all")
        {
            Faults.UnionWith(FaultKinds.All);
            return;
        }

        foreach (var kind in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Faults.Add(Known(kind));
        }
    }

    private void RemoveFault(string kind) => Faults.Remove(Known(kind));

    private static string Known(string kind) =>
        FaultKinds.All.Contains(kind) ? kind : throw new ArgumentException($"unknown fault kind '{kind}'");
}
