using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sagas.Chaos;

/// <summary>The coordinators' HTTP API: starts go to any instance that is up; reads try each in turn.</summary>
public sealed class Coordinators : IDisposable
{
    private readonly IReadOnlyList<ChildProcess> _instances;
    private readonly Random _random;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Lock _gate = new();

    public Coordinators(IReadOnlyList<ChildProcess> instances, Random random, string apiKey)
    {
        _instances = instances;
        _random = random;
        _http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
    }

    /// <summary>True: accepted. False: try again (nobody up, timeout, 5xx). Null: rejected for good (4xx).</summary>
    public async Task<bool?> StartAsync(SagaSpec saga, CancellationToken ct)
    {
        var target = Pick();
        if (target is null)
        {
            return false;
        }

        var body = new JsonObject { ["definition"] = Workload.Definition, ["sagaId"] = saga.Id.ToString(), ["data"] = saga.Data() };
        try
        {
            using var response = await _http.PostAsJsonAsync(new Uri(target.BaseAddress!, "/api/sagas"), body, ct);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                return true;
            }

            if ((int)response.StatusCode is >= 400 and < 500)
            {
                // Retrying cannot fix a rejected start: say so loudly, it is a bug in the runner or the coordinator.
                Log.Info($"start of saga #{saga.Index} rejected by {target.Name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
                return null;
            }

            return false;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The saga's state and reason; null when no instance knows it (404 everywhere); throws when none answers.</summary>
    public async Task<SagaStatus?> GetAsync(Guid id, CancellationToken ct)
    {
        Exception? last = null;
        foreach (var instance in _instances.Where(i => i.Available).OrderBy(_ => Next()))
        {
            try
            {
                using var response = await _http.GetAsync(new Uri(instance.BaseAddress!, $"/api/sagas/{id}"), ct);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }

                if (!response.IsSuccessStatusCode)
                {
                    last = new HttpRequestException($"{instance.Name}: {(int)response.StatusCode}");
                    continue;
                }

                using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
                var root = doc.RootElement;
                var state = root.GetProperty("state").GetString() ?? "";
                var reason = root.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
                return new SagaStatus(state, reason);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                last = ex;
            }
        }

        throw new InvalidOperationException("no coordinator answered", last);
    }

    /// <summary>The determinism check: the differences between the stored saga and a replay of its inputs (empty: it matches).</summary>
    public async Task<IReadOnlyList<string>?> ReplayAsync(Guid id, CancellationToken ct)
    {
        foreach (var instance in _instances.Where(i => i.Available))
        {
            try
            {
                using var response = await _http.GetAsync(new Uri(instance.BaseAddress!, $"/api/sagas/{id}/replay"), ct);
                if (!response.IsSuccessStatusCode)
                {
                    continue;
                }

                using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
                return doc.RootElement.GetProperty("differences").EnumerateArray().Select(d => d.GetString() ?? "").ToList();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                // Try the next instance.
            }
        }

        return null;
    }

    public async Task<bool> ReadyAsync(ChildProcess instance, CancellationToken ct)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri(instance.BaseAddress!, "/health/ready"), ct);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => _http.Dispose();

    private ChildProcess? Pick()
    {
        var up = _instances.Where(i => i.Available).ToList();
        return up.Count == 0 ? null : up[Next(up.Count)];
    }

    private int Next(int max = int.MaxValue)
    {
        lock (_gate)
        {
            return _random.Next(max);
        }
    }
}
