using System.Diagnostics;

namespace Sagas.Chaos;

public enum ChildKind
{
    Coordinator,
    Participant,
}

/// <summary>
/// One coordinator or participant as a real OS process, its output appended to a log file. The runner knows
/// which exits it caused (SIGKILL); any other exit is a crash.
/// </summary>
public sealed class ChildProcess(string name, ChildKind kind, string dll, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> env, string logPath)
{
    private readonly Lock _gate = new();
    private Process? _process;
    private bool _expectedExit = true;
    private bool _crashReported = true;

    public string Name { get; } = name;

    public ChildKind Kind { get; } = kind;

    public string LogPath { get; } = logPath;

    /// <summary>Only for coordinators: the API's base address.</summary>
    public Uri? BaseAddress { get; init; }

    public bool Frozen { get; private set; }

    public int? Pid { get { lock (_gate) { return _process?.Id; } } }

    public bool Running { get { lock (_gate) { return _process is { HasExited: false }; } } }

    /// <summary>Up and meant to be up (not frozen, not killed by the runner).</summary>
    public bool Available => Running && !Frozen && !_expectedExit;

    public void Start()
    {
        lock (_gate)
        {
            if (_process is { HasExited: false })
            {
                return;
            }

            _process?.Dispose();
            var start = new ProcessStartInfo("bash")
            {
                UseShellExecute = false,
                WorkingDirectory = Path.GetDirectoryName(dll)!,
            };

            // exec keeps the pid, so the runner's SIGKILL hits dotnet itself; output goes straight to the log file.
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$CHAOS_LOG\" 2>&1");
            start.ArgumentList.Add("dotnet");
            start.ArgumentList.Add(dll);
            foreach (var a in args)
            {
                start.ArgumentList.Add(a);
            }

            start.Environment["CHAOS_LOG"] = LogPath;

            // UTC times on every line, to line a process's log up with the runner's fault log.
            // (FormatterName must be set, or the console logger's obsolete top-level options override these.)
            start.Environment["Logging__Console__FormatterName"] = "simple";
            start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
            start.Environment["Logging__Console__FormatterOptions__UseUtcTimestamp"] = "true";
            foreach (var (k, v) in env)
            {
                start.Environment[k] = v;
            }

            File.AppendAllText(LogPath, $"==== chaos: start {Name} at {DateTimeOffset.UtcNow:O}\n");
            _process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {Name}");
            _expectedExit = false;
            _crashReported = false;
            Frozen = false;
        }
    }

    /// <summary>SIGKILL, expected by the runner.</summary>
    public void Kill()
    {
        Process? p;
        lock (_gate)
        {
            _expectedExit = true;
            p = _process;
        }

        if (p is null || p.HasExited)
        {
            return;
        }

        try
        {
            if (Frozen)
            {
                Signal("CONT");
            }

            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        Frozen = false;
        File.AppendAllText(LogPath, $"==== chaos: SIGKILL {Name} at {DateTimeOffset.UtcNow:O}\n");
    }

    public void Freeze()
    {
        Signal("STOP");
        Frozen = true;
    }

    public void Thaw()
    {
        Signal("CONT");
        Frozen = false;
    }

    /// <summary>Returns the exit code once per exit the runner did not cause.</summary>
    public int? TakeUnexpectedExit()
    {
        lock (_gate)
        {
            if (_process is null || _expectedExit || _crashReported || !_process.HasExited)
            {
                return null;
            }

            _crashReported = true;
            _expectedExit = true;
            return _process.ExitCode;
        }
    }

    public string Tail(int lines)
    {
        try
        {
            var all = File.ReadAllLines(LogPath);
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException)
        {
            return "";
        }
    }

    private void Signal(string signal)
    {
        if (Pid is { } pid)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
            kill?.WaitForExit(5_000);
        }
    }
}
