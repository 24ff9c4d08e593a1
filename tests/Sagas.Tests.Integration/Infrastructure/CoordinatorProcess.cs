using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// A .NET app run as a real OS process (<c>dotnet app.dll</c>) with configuration in environment variables,
/// its output captured to a log file. <see cref="KillAsync"/> is SIGKILL: no shutdown hooks, no flushing.
/// </summary>
public abstract class ChildProcess : IAsyncDisposable
{
    // Inherited variables with these prefixes would leak the test's own configuration into the child.
    private static readonly string[] ScrubbedPrefixes = ["Sagas__", "Samples__", "ConnectionStrings__", "ASPNETCORE_URLS", "Logging__"];

    private readonly object _logGate = new();
    private Process? _process;
    private int _generation;

    protected ChildProcess(string name, string dll, string logDirectory, IReadOnlyDictionary<string, string?> settings)
    {
        Name = name;
        Dll = dll;
        Settings = settings;
        Directory.CreateDirectory(logDirectory);
        LogPath = Path.Combine(logDirectory, $"{name}.log");
    }

    public string Name { get; }

    public string Dll { get; }

    /// <summary>Configuration keys in <c>Section:Key</c> form; passed as <c>Section__Key</c> environment variables.</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; }

    public string LogPath { get; }

    public bool IsRunning => _process is { HasExited: false };

    public int? ProcessId => _process?.Id;

    protected abstract IEnumerable<string> Arguments { get; }

    /// <summary>Starts the process and waits until it is ready.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} is already running (pid {_process!.Id})");
        }

        var generation = Interlocked.Increment(ref _generation);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(Dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var argument in Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var key in start.Environment.Keys.Where(k => ScrubbedPrefixes.Any(p => k.StartsWith(p, StringComparison.OrdinalIgnoreCase))).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["Logging__LogLevel__Microsoft.EntityFrameworkCore"] = "Warning";
        foreach (var (key, value) in Settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        AppendLog($"==== {Name} start #{generation}: dotnet {string.Join(' ', start.ArgumentList)}");
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => AppendLog(e.Data);
        process.ErrorDataReceived += (_, e) => AppendLog(e.Data is null ? null : "[stderr] " + e.Data);
        process.Exited += (_, _) => AppendLog($"==== {Name} #{generation} exited");
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {Name}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        try
        {
            await WaitUntilReadyAsync(process, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var exited = process.HasExited ? $"exited with {process.ExitCode}" : "still running";
            throw new InvalidOperationException($"{Name} did not become ready ({exited}): {ex.Message}\n{ReadLogTail()}", ex);
        }
    }

    /// <summary>SIGKILL (the whole tree) and wait for the process to be gone.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null || process.HasExited)
        {
            return;
        }

        AppendLog($"==== {Name}: SIGKILL pid {process.Id}");
        process.Kill(entireProcessTree: true);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await process.WaitForExitAsync(timeout.Token);
    }

    /// <summary>Kill (if running) and start again with the same settings.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await KillAsync();
        await StartAsync(cancellationToken);
    }

    /// <summary>The last lines of the captured output, for failure messages.</summary>
    public string ReadLogTail(int lines = 80)
    {
        lock (_logGate)
        {
            if (!File.Exists(LogPath))
            {
                return $"(no log at {LogPath})";
            }

            var all = File.ReadAllLines(LogPath);
            return $"---- {Name} log ({LogPath}), last {Math.Min(lines, all.Length)} of {all.Length} lines ----\n" + string.Join('\n', all.TakeLast(lines));
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process?.Dispose();
        _process = null;
        GC.SuppressFinalize(this);
    }

    protected abstract Task WaitUntilReadyAsync(Process process, CancellationToken cancellationToken);

    protected static void ThrowIfExited(Process process)
    {
        if (process.HasExited)
        {
            throw new InvalidOperationException($"the process exited with code {process.ExitCode} before it was ready");
        }
    }

    private void AppendLog(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logGate)
        {
            File.AppendAllText(LogPath, line + "\n", Encoding.UTF8);
        }
    }
}

/// <summary>
/// The coordinator (<c>Sagas.Coordinator.dll</c> from the test's output folder) on a fixed local port, so
/// <see cref="Client"/> keeps working across <see cref="ChildProcess.RestartAsync"/>.
/// </summary>
public sealed class CoordinatorProcess : ChildProcess
{
    public const string ApiKeyHeader = "X-Api-Key";

    public CoordinatorProcess(string logDirectory, IReadOnlyDictionary<string, string?> settings, TimeSpan? readyTimeout = null)
        : this(logDirectory, WithApiKey(settings, out var apiKey), apiKey, readyTimeout)
    {
    }

    private CoordinatorProcess(string logDirectory, IReadOnlyDictionary<string, string?> settings, string apiKey, TimeSpan? readyTimeout)
        : base("coordinator", BuildOutput.CoordinatorDll(), logDirectory, settings)
    {
        Port = BuildOutput.FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{Port}/");
        ReadyTimeout = readyTimeout ?? TimeSpan.FromSeconds(60);
        ApiKey = apiKey;
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Client.DefaultRequestHeaders.Add(ApiKeyHeader, apiKey);
    }

    /// <summary>An Admin API key configured for the process (<c>Sagas:Auth:ApiKeys:0</c>) and sent by <see cref="Client"/>.</summary>
    public string ApiKey { get; }

    public int Port { get; }

    public Uri BaseAddress { get; }

    public TimeSpan ReadyTimeout { get; }

    public HttpClient Client { get; }

    private static Dictionary<string, string?> WithApiKey(IReadOnlyDictionary<string, string?> settings, out string apiKey)
    {
        var all = new Dictionary<string, string?>(settings, StringComparer.OrdinalIgnoreCase);
        apiKey = all.TryGetValue("Sagas:Auth:ApiKeys:0:Key", out var given) && !string.IsNullOrEmpty(given)
            ? given
            : "sagas_test_" + Guid.NewGuid().ToString("N");
        all.TryAdd("Sagas:Auth:ApiKeys:0:Name", "integration-tests");
        all["Sagas:Auth:ApiKeys:0:Key"] = apiKey;
        all.TryAdd("Sagas:Auth:ApiKeys:0:Role", "Admin");
        return all;
    }

    protected override IEnumerable<string> Arguments =>
        ["--urls", BaseAddress.ToString().TrimEnd('/'), "--contentRoot", Path.GetDirectoryName(Dll)!];

    /// <summary>Starts a coordinator and waits for <c>/health/ready</c>.</summary>
    public static async Task<CoordinatorProcess> StartNewAsync(string logDirectory, IReadOnlyDictionary<string, string?> settings)
    {
        var coordinator = new CoordinatorProcess(logDirectory, settings);
        try
        {
            await coordinator.StartAsync();
            return coordinator;
        }
        catch
        {
            await coordinator.DisposeAsync();
            throw;
        }
    }

    public async Task<JsonElement?> TryGetSagaAsync(Guid id)
    {
        using var response = await Client.GetAsync(new Uri($"api/sagas/{id}", UriKind.Relative));
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Client.Dispose();
    }

    protected override async Task WaitUntilReadyAsync(Process process, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ReadyTimeout;
        var last = "no answer";
        while (true)
        {
            ThrowIfExited(process);
            try
            {
                using var response = await Client.GetAsync(new Uri("health/ready", UriKind.Relative), cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}";
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"/health/ready not 200 within {ReadyTimeout.TotalSeconds:0} s; last: {last}");
            }

            await Task.Delay(200, cancellationToken);
        }
    }
}

/// <summary>
/// <c>Sagas.Samples.Host --service all</c> (inventory, payments, shipping) on RabbitMQ and PostgreSQL. Ready
/// when each participant's queue has a consumer on the broker.
/// </summary>
public sealed class ParticipantsProcess(string logDirectory, IReadOnlyDictionary<string, string?> settings, Uri broker, string service = "all")
    : ChildProcess("participants", BuildOutput.SamplesHostDll(), logDirectory, settings)
{
    public static readonly string[] Queues = ["inventory", "payments", "shipping"];

    protected override IEnumerable<string> Arguments => ["--service", service];

    protected override async Task WaitUntilReadyAsync(Process process, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var factory = new ConnectionFactory { Uri = broker };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        var last = "";
        while (true)
        {
            ThrowIfExited(process);
            var ready = true;
            foreach (var queue in service == "all" ? Queues : service.Split(','))
            {
                var consumers = await ConsumerCountAsync(connection, queue, cancellationToken);
                if (consumers < 1)
                {
                    ready = false;
                    last = $"queue {queue}: {(consumers < 0 ? "not declared" : "no consumer")}";
                    break;
                }
            }

            if (ready)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"participants not consuming within 60 s; {last}");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>Consumers on <paramref name="queue"/>, or -1 when it does not exist yet.</summary>
    public static async Task<int> ConsumerCountAsync(IConnection connection, string queue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        try
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            return (int)ok.ConsumerCount;
        }
        catch (OperationInterruptedException)
        {
            return -1;
        }
    }
}

/// <summary>Where the built apps are: the coordinator next to the tests, the samples host in its own bin folder.</summary>
public static class BuildOutput
{
    /// <summary>Debug or Release: the configuration the test assembly itself was built in.</summary>
    public static string Configuration { get; } =
        typeof(BuildOutput).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration is { Length: > 0 } c ? c : "Debug";

    public static string CoordinatorDll()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Sagas.Coordinator.dll");
        if (!File.Exists(dll) || !Directory.Exists(Path.Combine(AppContext.BaseDirectory, "definitions")))
        {
            throw new FileNotFoundException($"Sagas.Coordinator.dll (and its definitions folder) not found next to the tests in {AppContext.BaseDirectory}; build the solution first", dll);
        }

        return dll;
    }

    public static string SamplesHostDll()
    {
        var root = RepositoryRoot();
        var folder = Path.Combine(root, "src", "Participants", "Sagas.Samples.Host", "bin");
        var candidates = new[] { Configuration }
            .Concat(new[] { "Debug", "Release" }.Where(c => !string.Equals(c, Configuration, StringComparison.OrdinalIgnoreCase)))
            .Select(c => Path.Combine(folder, c, "net10.0", "Sagas.Samples.Host.dll"))
            .ToList();
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"Sagas.Samples.Host.dll has not been built; looked in {string.Join(", ", candidates)}. Run 'dotnet build Sagas.sln -c {Configuration}' first.");
    }

    /// <summary>The folder holding <c>Sagas.sln</c>, found by walking up from the test's output folder.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sagas.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no Sagas.sln above {AppContext.BaseDirectory}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
