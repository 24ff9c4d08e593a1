using System.Diagnostics;

namespace Sagas.Bench.Throughput.Infra;

/// <summary>A process the benchmark started (a system under test), its output appended to a log file.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    // Children die with the benchmark, even when it is stopped with SIGTERM or Ctrl+C half-way.
    private static readonly HashSet<Process> Running = [];

    private readonly Process process;
    private readonly StreamWriter log;

    static ChildProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();

    private ChildProcess(Process process, StreamWriter log)
    {
        this.process = process;
        this.log = log;
    }

    public int Pid => process.Id;

    public string Name { get; private init; } = "";

    public bool HasExited => process.HasExited;

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, string logDirectory)
    {
        Directory.CreateDirectory(logDirectory);
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var log = new StreamWriter(Path.Combine(logDirectory, name + ".log"), append: true) { AutoFlush = true };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (Running)
        {
            Running.Add(process);
        }

        return new ChildProcess(process, log) { Name = name };
    }

    public async ValueTask DisposeAsync()
    {
        lock (Running)
        {
            Running.Remove(process);
        }

        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
        await log.DisposeAsync();
    }

    private static void KillAll()
    {
        lock (Running)
        {
            foreach (var process in Running.Where(p => !p.HasExited))
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }
}
