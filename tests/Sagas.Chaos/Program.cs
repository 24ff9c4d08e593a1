using Sagas.Chaos;

// Chaos runner: ./scripts/chaos.sh --sagas 300 --duration 60 --seed 1 (see ChaosOptions.Usage).
// Exit 0 only when every saga is terminal and lost, inconsistent, double_effects and poison_crashes are all 0.
ChaosOptions options;
try
{
    options = ChaosOptions.Parse(args);
}
catch (ArgumentException ex)
{
    if (ex.Message.Length > 0)
    {
        Console.Error.WriteLine(ex.Message);
    }

    Console.Error.WriteLine(ChaosOptions.Usage);
    return 2;
}

var repoRoot = options.RepoRoot ?? FindRepoRoot(AppContext.BaseDirectory);
// bin/<Configuration>/net10.0/: run the coordinator and participants of the same configuration.
var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent?.Name ?? "Release";
using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(options.HardTimeoutSeconds));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};

await using var run = new ChaosRun(options, repoRoot, configuration);
AppDomain.CurrentDomain.ProcessExit += (_, _) => run.KillChildren();

// Last resort: if even the cancellation path hangs, kill the children and leave.
_ = Task.Run(async () =>
{
    await Task.Delay(TimeSpan.FromSeconds(options.HardTimeoutSeconds + 60));
    Console.Error.WriteLine("chaos: watchdog fired; killing child processes");
    run.KillChildren();
    Environment.Exit(3);
});

var code = 1;
try
{
    code = await run.RunAsync(cts.Token);
}
catch (OperationCanceledException) when (cts.IsCancellationRequested)
{
    Console.WriteLine($"chaos: stopped after the hard timeout of {options.HardTimeoutSeconds}s (or Ctrl-C) before the check");
    code = 3;
}
catch (Exception ex)
{
    Console.WriteLine($"chaos: run failed: {ex}");
    code = 1;
}
finally
{
    await run.CleanupAsync(code == 0);
}

return code;

static string FindRepoRoot(string start)
{
    for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Sagas.sln")))
        {
            return dir.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}
