using System.Diagnostics;
using System.Text;

namespace Sagas.Chaos;

/// <summary>Runs a short external command with a deadline and returns its exit code and output.</summary>
public static class Shell
{
    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Any rabbitmqctl call may spawn epmd: keep it on loopback.
        start.Environment["ERL_EPMD_ADDRESS"] = "127.0.0.1";
        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                start.Environment[k] = v;
            }
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var output = new StringBuilder();
        var readOut = process.StandardOutput.ReadToEndAsync();
        var readErr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} timed out after {timeout.TotalSeconds:0}s");
        }

        output.Append(await readOut).Append(await readErr);
        return (process.ExitCode, output.ToString().Trim());
    }

    public static async Task RunCheckedAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var list = args.ToList();
        var (code, output) = await RunAsync(file, list, timeout);
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', list)} exited with {code}: {output}");
        }
    }
}
