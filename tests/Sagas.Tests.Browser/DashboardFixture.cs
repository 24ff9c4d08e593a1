using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;

namespace Sagas.Tests.Browser;

/// <summary>
/// The real coordinator as a process on a free loopback port (embedded mode: SQLite files in a temp folder,
/// in-memory transport, the demo participants in-process), with an Admin, an Operator and a Reader key, and one
/// headless Debian Chromium driven by Playwright. Nothing is downloaded: the browser is <c>/usr/bin/chromium</c>.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string AdminKey = "sagas_browser_admin_0123456789abcdef";
    public const string OperatorKey = "sagas_browser_operator_0123456789abcdef";
    public const string ReaderKey = "sagas_browser_reader_0123456789abcdef";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "sagas-browser-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly StringBuilder _log = new();
    private Process? _process;
    private IPlaywright? _playwright;

    public Uri BaseAddress { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>While this file exists, every compensation of the demo participants fails (test hook in Sagas.Participants).</summary>
    public string FailCompensationsFlag => Path.Combine(_folder, "fail-compensations.flag");

    public string ScreenshotsFolder { get; } = Path.Combine(RepositoryRoot(), "artifacts", "screenshots");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} not found: install Debian's chromium package (scripts/test.sh does: apt-get install -y chromium)");
        }

        Directory.CreateDirectory(_folder);
        Directory.CreateDirectory(ScreenshotsFolder);
        var port = FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        await StartCoordinatorAsync();

        Assertions.SetDefaultExpectTimeout(15_000);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A laptop-sized page in a fixed zone, signed in with <paramref name="apiKey"/>.</summary>
    public async Task<IPage> SignedInPageAsync(string apiKey, string expectedRole)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1440, Height = 900 },
            TimezoneId = "Europe/Amsterdam",
            Locale = "en-GB",
            BaseURL = BaseAddress.ToString(),
        });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(20_000);
        await page.GotoAsync("/");
        await page.FillAsync("#api-key", apiKey);
        await page.ClickAsync("#signin-form button[type=submit]");
        await Assertions.Expect(page.GetByTestId("role")).ToHaveTextAsync(expectedRole, new() { Timeout = 20_000 });
        return page;
    }

    public HttpClient Client(string apiKey)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        return client;
    }

    /// <summary>Starts an order-fulfilment saga; country AQ makes shipping refuse it, so it compensates.</summary>
    public async Task<Guid> StartOrderAsync(string country, string businessKey)
    {
        using var client = Client(AdminKey);
        var body = new
        {
            definition = "order-fulfilment",
            businessKey,
            data = new { orderId = businessKey, customerId = "c-1", sku = "sku-1", quantity = 1, amount = 10.0, country },
        };
        using var response = await client.PostAsJsonAsync("api/sagas", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"start: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("sagaId").GetGuid();
    }

    public async Task<string> WaitForStateAsync(Guid sagaId, params string[] states)
    {
        using var client = Client(AdminKey);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var state = "";
        while (DateTime.UtcNow < deadline)
        {
            var json = await client.GetStringAsync($"api/sagas/{sagaId}");
            state = JsonDocument.Parse(json).RootElement.GetProperty("state").GetString()!;
            if (states.Contains(state))
            {
                return state;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"saga {sagaId} is {state}, not {string.Join('/', states)}, after 30 s\n{LogTail()}");
    }

    public async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotsFolder, name + ".png"), FullPage = true });

    public string LogTail()
    {
        lock (_log)
        {
            var lines = _log.ToString().Split('\n');
            return string.Join('\n', lines.TakeLast(60));
        }
    }

    private async Task StartCoordinatorAsync()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Sagas.Coordinator.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { dll, "--urls", BaseAddress.ToString().TrimEnd('/'), "--contentRoot", _folder })
        {
            start.ArgumentList.Add(argument);
        }

        // The test's own environment must not leak configuration into the child.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Sagas__", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("Samples__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        var settings = new Dictionary<string, string>
        {
            ["Sagas__Mode"] = "Embedded",
            ["Sagas__Participants__Faults__FailCompensationsWhileFileExists"] = FailCompensationsFlag,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.EntityFrameworkCore"] = "Warning",
        };
        var keys = new[] { ("browser-admin", AdminKey, "Admin"), ("browser-operator", OperatorKey, "Operator"), ("browser-reader", ReaderKey, "Reader") };
        for (var i = 0; i < keys.Length; i++)
        {
            settings[$"Sagas__Auth__ApiKeys__{i}__Name"] = keys[i].Item1;
            settings[$"Sagas__Auth__ApiKeys__{i}__Key"] = keys[i].Item2;
            settings[$"Sagas__Auth__ApiKeys__{i}__Role"] = keys[i].Item3;
        }

        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the coordinator exited with {_process.ExitCode}\n{LogTail()}");
            }

            try
            {
                using var response = await probe.GetAsync("health/ready");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the coordinator was not ready within 60 s\n{LogTail()}");
            }

            await Task.Delay(200);
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.Append(line).Append('\n');
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sagas.sln")))
            {
                return dir.FullName;
            }
        }

        return AppContext.BaseDirectory;
    }
}
