using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Hosting;
using Sagas.Participants;
using Sagas.Participants.Transport;
using Sagas.Samples;
using Xunit;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// A coordinator host (in-process, with the three sample participants) on one kind of infrastructure.
/// Subclasses say which: SQLite + in-memory transport, or PostgreSQL + RabbitMQ.
/// </summary>
public abstract class SagaBackend : IAsyncLifetime
{
    private CoordinatorFactory? _factory;
    private bool _ready;

    public ScriptedParticipantFaults Faults { get; } = new();

    public HttpClient Client { get; private set; } = null!;

    public IServiceProvider Services => _factory!.Services;

    public SampleLedger Ledger => Services.GetRequiredService<SampleLedger>();

    public IBus Bus => Services.GetRequiredService<IBus>();

    /// <summary>
    /// A send endpoint for one of the backend's queues, addressed the way the transport wants it: with quorum queues
    /// that is the queue's exchange, since a plain <c>queue:</c> send would declare it as a classic queue and be refused.
    /// </summary>
    public Task<ISendEndpoint> SendEndpointAsync(string queue) => Bus.GetSendEndpoint(Services.GetRequiredService<TransportOptions>().AddressOf(queue));

    public SagasOptions CoordinatorOptions => Services.GetRequiredService<IOptions<SagasOptions>>().Value;

    public ParticipantReplyOptions ReplyOptions => Services.GetRequiredService<IOptions<ParticipantReplyOptions>>().Value;

    /// <summary>Folder of definition files: the shipped ones plus fast test variants.</summary>
    public string WorkDirectory { get; } = Directory.CreateTempSubdirectory("sagas-it-").FullName;

    public abstract string Name { get; }

    public async Task InitializeAsync()
    {
        var definitions = TestDefinitions.WriteAll(Path.Combine(WorkDirectory, "definitions"));
        var settings = await SettingsAsync();
        settings["Sagas:DefinitionsPath"] = definitions;
        settings["Sagas:TimerPollInterval"] = "00:00:00.100";
        settings["Sagas:OutboxSweepAge"] = "00:00:02";
        if (UseTestKeys)
        {
            TestKeys.AddTo(settings);
        }

        _factory = new CoordinatorFactory(settings, Faults, ConfigureServices);
        Client = CreateClient(UseTestKeys ? TestKeys.Admin : null);
        // The bus connects in the background; ready means database and broker both answer.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var ready = await Client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            if (ready.IsSuccessStatusCode)
            {
                _ready = true;
                break;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name} not ready: {(int)ready.StatusCode} {await ready.Content.ReadAsStringAsync()}");
            }

            await Task.Delay(200);
        }
    }

    public virtual async Task DisposeAsync()
    {
        if (_factory is not null)
        {
            try
            {
                await VerifyReplayAsync();
            }
            finally
            {
                await _factory.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The determinism check over every saga this fixture's tests left behind: replaying each saga's recorded
    /// inputs through the Engine must reproduce its stored state and history exactly. Thrown from the fixture's
    /// dispose, which xunit reports as an error of the test class. A saga still moving (a timer firing while we
    /// read) can look different for a moment, so a difference counts only if it is still there after a pause.
    /// </summary>
    private async Task VerifyReplayAsync()
    {
        if (!_ready)
        {
            return;
        }

        var started = System.Diagnostics.Stopwatch.StartNew();
        var replayer = Services.GetRequiredService<Sagas.Coordinator.Persistence.SagaReplayer>();
        List<Guid> ids;
        await using (var db = Services.GetRequiredService<Sagas.Coordinator.Persistence.SagasDbFactory>().Create())
        {
            ids = await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToListAsync(db.Sagas.Select(s => s.Id));
        }

        var mismatches = new ConcurrentDictionary<Guid, IReadOnlyList<string>>();
        var synthetic = 0;
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (id, ct) =>
        {
            for (var attempt = 1; ; attempt++)
            {
                var differences = await replayer.VerifyAsync(id, ct);
                if (differences is [var only] && only.EndsWith("has no recorded start", StringComparison.Ordinal))
                {
                    // Rows a test wrote straight into the table (search fixtures) have no inputs to replay.
                    Interlocked.Increment(ref synthetic);
                    return;
                }

                if (differences.Count == 0)
                {
                    mismatches.TryRemove(id, out _);
                    return;
                }

                mismatches[id] = differences;
                if (attempt == 3)
                {
                    return;
                }

                await Task.Delay(500, ct);
            }
        });

        var line = $"{DateTime.UtcNow:O} replay check on {Name} ({GetType().Name}): {ids.Count} sagas ({synthetic} written directly, not replayable), {mismatches.Count} mismatches, {started.ElapsedMilliseconds} ms";
        Console.WriteLine(line);
        await File.AppendAllTextAsync(Path.Combine(Path.GetTempPath(), "sagas-replay-check.log"), line + Environment.NewLine);
        if (!mismatches.IsEmpty)
        {
            throw new InvalidOperationException(
                $"Replay check failed on {Name}: {mismatches.Count} of {ids.Count} sagas differ from a replay of their history:\n" +
                string.Join("\n", mismatches.Take(20).Select(m => $"  {m.Key}: {string.Join("; ", m.Value)}")));
        }
    }

    protected abstract Task<Dictionary<string, string?>> SettingsAsync();

    /// <summary>Configure the API keys and JWT signing key of <see cref="TestKeys"/>; <see cref="Client"/> then sends the Admin key.</summary>
    protected virtual bool UseTestKeys => true;

    /// <summary>Test services added to the coordinator's container (after its own).</summary>
    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    /// <summary>A client of this host sending <paramref name="apiKey"/> (none when null) and/or a bearer token.</summary>
    public HttpClient CreateClient(string? apiKey, string? bearerToken = null)
    {
        var client = _factory!.CreateClient();
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        if (bearerToken is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearerToken);
        }

        return client;
    }

    /// <summary>A fresh order on a fresh SKU and customer so scenarios never share state.</summary>
    public async Task<Order> NewOrderAsync(string country = "NL", long stock = 100, decimal balance = 1000m, decimal amount = 25m, int quantity = 2)
    {
        var suffix = Guid.NewGuid().ToString("N")[..10];
        var order = new Order($"o-{suffix}", $"c-{suffix}", $"sku-{suffix}", quantity, amount, country);
        await Ledger.SeedStockAsync(order.Sku, stock);
        await Ledger.SeedCustomerAsync(order.CustomerId, balance);
        return order;
    }

    public async Task<Guid> StartAsync(string definition, Order order, Guid? sagaId = null)
    {
        var id = sagaId ?? Guid.NewGuid();
        var response = await Client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition, sagaId = id, data = order.ToJson() });
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 202)
        {
            throw new InvalidOperationException($"start returned {(int)response.StatusCode}: {body}");
        }

        return id;
    }

    public async Task<JsonElement> GetSagaAsync(Guid id)
    {
        using var document = JsonDocument.Parse(await Client.GetStringAsync(new Uri($"/api/sagas/{id}", UriKind.Relative)));
        return document.RootElement.Clone();
    }

    public async Task<IReadOnlyList<HistoryLine>> GetHistoryAsync(Guid id) =>
        await Client.GetFromJsonAsync<List<HistoryLine>>(new Uri($"/api/sagas/{id}/history", UriKind.Relative), JsonDefaults.Web) ?? [];

    /// <summary>Polls until the saga reaches <paramref name="state"/>; fails with its last view otherwise.</summary>
    public async Task<JsonElement> WaitForStateAsync(Guid id, string state, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        JsonElement saga = default;
        while (DateTime.UtcNow < deadline)
        {
            var response = await Client.GetAsync(new Uri($"/api/sagas/{id}", UriKind.Relative));
            if (response.IsSuccessStatusCode)
            {
                using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                saga = document.RootElement.Clone();
                if (saga.GetProperty("state").GetString() == state)
                {
                    return saga;
                }
            }

            await Task.Delay(100);
        }

        var history = await GetHistoryAsync(id);
        throw new TimeoutException($"saga {id} did not reach {state} on {Name}; last view: {saga}\nhistory:\n{string.Join('\n', history)}");
    }

    private sealed class CoordinatorFactory(Dictionary<string, string?> settings, ScriptedParticipantFaults faults, Action<IServiceCollection> configure) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value);
            }

            builder.ConfigureTestServices(services =>
            {
                services.AddSingleton<IParticipantFaults>(faults);
                configure(services);
            });
        }
    }
}

public sealed record Order(string OrderId, string CustomerId, string Sku, int Quantity, decimal Amount, string Country)
{
    public JsonObject ToJson() => new()
    {
        ["orderId"] = OrderId,
        ["customerId"] = CustomerId,
        ["sku"] = Sku,
        ["quantity"] = Quantity,
        ["amount"] = Amount,
        ["country"] = Country,
    };
}

public sealed record HistoryLine(int Sequence, DateTimeOffset Time, string Type, string? Step, int? Attempt, string? Detail, string Actor)
{
    public override string ToString() => $"{Sequence,3} {Time:HH:mm:ss.fff} {Type} {Step} #{Attempt} {Detail}";
}

public static class JsonDefaults
{
    public static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
}
