using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Sagas.Chaos;

/// <summary>
/// One chaos run: real processes on loopback (two or more coordinators, one process per sample participant),
/// a seeded stream of order-fulfilment sagas, faults at random instants, a drain, then the ledger oracle.
/// </summary>
public sealed class ChaosRun(ChaosOptions options, string repoRoot, string configuration) : IAsyncDisposable
{
    private static readonly (string Service, string Step, string Action, string Compensation)[] Steps =
        [("inventory", "reserve-stock", "reserve", "release"), ("payments", "charge-payment", "charge", "refund"), ("shipping", "book-shipment", "book", "cancel")];

    private readonly string _runId = string.Create(CultureInfo.InvariantCulture, $"s{options.Seed}_{DateTime.UtcNow:yyyyMMddHHmmss}");
    private readonly Random _faultRandom = new(options.Seed * 7919 + 1);
    private readonly Random _clientRandom = new(options.Seed * 104729 + 2);
    private readonly List<ChildProcess> _children = [];
    private readonly List<ChildProcess> _coordinators = [];
    private readonly List<ChildProcess> _participants = [];
    private readonly ConcurrentDictionary<string, int> _injected = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, bool> _accepted = new();
    private readonly List<string> _crashes = [];
    private readonly string _apiKey = "chaos_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
    private Dictionary<Guid, SagaSpec> _specs = [];
    private Services _services = null!;
    private Coordinators _api = null!;
    private int _replayMismatches;
    private int _stalledQueues;
    private string _runDir = "";
    private volatile bool _supervising;

    public string RunId => _runId;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        _runDir = Path.Combine(Path.GetTempPath(), "sagas-chaos", _runId);
        Directory.CreateDirectory(_runDir);
        _services = new Services(options, repoRoot, _runId);
        Log.Info($"run {_runId}: sagas={options.Sagas} duration={options.DurationSeconds}s seed={options.Seed} coordinators={options.Coordinators} " +
                 $"faults={string.Join(',', FaultKinds.All.Where(options.Faults.Contains))}; logs in {_runDir}");

        var definitions = Path.Combine(_runDir, "definitions");
        Directory.CreateDirectory(definitions);
        await File.WriteAllTextAsync(Path.Combine(definitions, "order-fulfilment.json"), DefinitionJson(), ct);

        await _services.CreateAsync();
        Log.Info($"vhost {_services.Vhost}, databases {_services.Database("*")}");
        CreateChildren(definitions);
        _api = new Coordinators(_coordinators, _clientRandom, _apiKey);

        // Participants first (they create their schemas), then one coordinator (migrations, definitions), then the rest.
        foreach (var p in _participants)
        {
            p.Start();
        }

        _coordinators[0].Start();
        await WaitReadyAsync(_coordinators[0], ct);
        foreach (var c in _coordinators.Skip(1))
        {
            c.Start();
        }

        foreach (var c in _coordinators.Skip(1))
        {
            await WaitReadyAsync(c, ct);
        }

        await WaitUntilAsync("participant schemas", TimeSpan.FromSeconds(90), () => Ledger.TablesExistAsync(_services, ct), ct);
        await Ledger.SeedAsync(_services, Workload.SeedStock, Workload.SeedBalances, ct);
        await Audit.InstallAsync(_services, ct);
        var initial = await Ledger.ReadAsync(_services, ct);
        var specs = Workload.Generate(options.Sagas, new Random(options.Seed));
        _specs = specs.ToDictionary(s => s.Id);
        Log.Info($"ready after {total.Elapsed.TotalSeconds:0.0}s; sagas: {string.Join(", ", specs.GroupBy(s => s.Kind).Select(g => $"{g.Key}={g.Count()}"))}");

        _supervising = true;
        var supervisor = Task.Run(() => SuperviseAsync(ct), ct);
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var depths = Task.Run(() => SampleQueuesAsync(sampling.Token), CancellationToken.None);
        var phase = Stopwatch.StartNew();
        var starts = Task.Run(() => StartSagasAsync(specs, phase, ct), ct);
        var faults = Task.Run(() => InjectFaultsAsync(phase, ct), ct);
        await Task.WhenAll(starts, faults);
        Log.Info($"fault phase over after {phase.Elapsed.TotalSeconds:0.0}s; {_accepted.Count}/{specs.Count} starts accepted; restoring everything");

        await _services.RestoreAsync();
        foreach (var child in _children)
        {
            if (child.Frozen)
            {
                child.Thaw();
            }

            if (!child.Running)
            {
                child.Start();
            }
        }

        var states = await DrainAsync(specs, ct);
        _stalledQueues = await FindStalledQueuesAsync(ct);

        // Freeze the books: no participant may move anything while the oracle reads them.
        _supervising = false;
        await supervisor;
        await sampling.CancelAsync();
        await depths;
        foreach (var p in _participants)
        {
            p.Kill();
        }

        if (options.Tamper)
        {
            await TamperAsync(specs, states, ct);
        }

        var ledger = await Ledger.ReadAsync(_services, ct);
        foreach (var spec in specs.Where(s => states.GetValueOrDefault(s.Id) is not { } st || !IsTerminal(st.State)))
        {
            states[spec.Id] = await TryGetAsync(spec.Id, ct);
        }

        _replayMismatches = await ReplayAllAsync(specs, ct);
        foreach (var c in _coordinators)
        {
            c.Kill();
        }

        var verdict = Oracle.Judge(specs, states, initial.Stock, initial.Balances, ledger);
        if (verdict.DoubleEffects > 0)
        {
            // Which participant transactions moved a total without its ledger row (or the other way round)?
            var unbalanced = await Audit.UnbalancedAsync(_services, ct);
            Log.Info($"audit: {unbalanced.Count} row(s) in transactions whose total and ledger changes differ");
            foreach (var line in unbalanced.Take(40))
            {
                Log.Info("audit: " + line);
            }
        }

        return Report(verdict, total.Elapsed);
    }

    /// <summary>
    /// The queues' depths every 15 s while the run goes on: a backlog that only grows shows a participant that has
    /// fallen behind its own retries (each timed-out attempt sends another copy), not just a slow moment.
    /// </summary>
    private async Task SampleQueuesAsync(CancellationToken ct)
    {
        Broker? broker = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(15), ct);
                try
                {
                    if (broker is null)
                    {
                        broker = new Broker(_services.RabbitUri);
                        await broker.ConnectAsync(ct);
                    }

                    var parts = new List<string>();
                    foreach (var queue in Broker.Queues)
                    {
                        var (messages, consumers) = await broker.InspectAsync(queue, ct);
                        parts.Add($"{queue}={messages}/{consumers}");
                    }

                    Log.Info($"queues (messages/consumers): {string.Join(' ', parts)}");
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // RabbitMQ is down (a fault): try again with a fresh connection next time.
                    if (broker is not null)
                    {
                        await broker.DisposeAsync();
                    }

                    broker = null;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
        finally
        {
            if (broker is not null)
            {
                await broker.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Every queue must have its consumer back once the faults are over. A process whose endpoint never reconnected
    /// otherwise shows only as sagas failing with timed-out compensations, which the ledger check accepts.
    /// A queue counts as stalled only if it stays without a consumer for 15 s (a process may be restarting).
    /// </summary>
    private async Task<int> FindStalledQueuesAsync(CancellationToken ct)
    {
        await using var broker = new Broker(_services.RabbitUri);
        await broker.ConnectAsync(ct);
        var watch = Stopwatch.StartNew();
        var stalled = new Dictionary<string, uint>();
        do
        {
            stalled.Clear();
            foreach (var queue in Broker.Queues)
            {
                var (messages, consumers) = await broker.InspectAsync(queue, ct);
                if (consumers == 0)
                {
                    stalled[queue] = messages;
                }
            }

            if (stalled.Count == 0)
            {
                return 0;
            }

            await Task.Delay(1000, ct);
        }
        while (watch.Elapsed < TimeSpan.FromSeconds(15));

        foreach (var (queue, messages) in stalled)
        {
            Log.Info($"stalled: queue {queue} has had no consumer for 15 s after the drain ({messages} message(s) waiting)");
        }

        return stalled.Count;
    }

    /// <summary>Replays every saga's recorded inputs through the Engine (on the coordinator) and counts those that differ from what is stored.</summary>
    private async Task<int> ReplayAllAsync(IReadOnlyList<SagaSpec> specs, CancellationToken ct)
    {
        var mismatched = 0;
        var checkedCount = 0;
        await Parallel.ForEachAsync(specs, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (spec, token) =>
        {
            var differences = await _api.ReplayAsync(spec.Id, token);
            if (differences is null)
            {
                return;
            }

            Interlocked.Increment(ref checkedCount);
            if (differences.Count > 0)
            {
                Interlocked.Increment(ref mismatched);
                Log.Info($"replay mismatch for saga #{spec.Index} {spec.Id}: {string.Join("; ", differences)}");
            }
        });
        Console.WriteLine($"replay: checked={checkedCount} mismatched={mismatched}");
        return mismatched;
    }

    private int Report(Verdict v, TimeSpan elapsed)
    {
        foreach (var problem in v.Problems.Take(60))
        {
            Log.Info(problem);
        }

        if (v.Problems.Count > 60)
        {
            Log.Info($"... and {v.Problems.Count - 60} more");
        }

        foreach (var crash in _crashes)
        {
            Log.Info("crash: " + crash);
        }

        var expected = FaultKinds.All.Where(options.Faults.Contains).ToList();
        var missing = expected.Where(k => _injected.GetValueOrDefault(k) == 0).ToList();
        Console.WriteLine($"faults: {string.Join(' ', expected.Select(k => $"{k}={_injected.GetValueOrDefault(k)}"))}");
        if (missing.Count > 0)
        {
            Console.WriteLine($"chaos: fault kinds never injected: {string.Join(',', missing)}");
        }

        if (_stalledQueues > 0)
        {
            Console.WriteLine($"chaos: {_stalledQueues} queue(s) left without a consumer (see the stalled: lines)");
        }

        if (v.Failed > options.MaxFailed)
        {
            Console.WriteLine($"chaos: {v.Failed} saga(s) ended Failed, more than --max-failed {options.MaxFailed} (see the failed lines)");
        }

        var poison = _crashes.Count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"chaos: run {_runId} took {elapsed.TotalSeconds:0.0}s; logs in {_runDir}"));
        Console.WriteLine($"chaos: sagas={v.Sagas} completed={v.Completed} compensated={v.Compensated} failed={v.Failed} lost={v.Lost} inconsistent={v.Inconsistent} double_effects={v.DoubleEffects} poison_crashes={poison}");
        var terminal = v.Completed + v.Compensated + v.Failed == v.Sagas;
        return v.Lost == 0 && v.Inconsistent == 0 && v.DoubleEffects == 0 && poison == 0 && terminal && v.Failed <= options.MaxFailed
            && missing.Count == 0 && _replayMismatches == 0 && _stalledQueues == 0 ? 0 : 1;
    }

    /// <summary>Tears down this run's processes; the vhost and databases go only when <paramref name="passed"/> and not --keep.</summary>
    public async Task CleanupAsync(bool passed)
    {
        _supervising = false;
        foreach (var child in _children)
        {
            child.Kill();
        }

        if (_services is null)
        {
            return;
        }

        await _services.RestoreAsync();
        if (passed && !options.Keep)
        {
            try
            {
                await _services.DropAsync();
                Log.Info($"dropped vhost {_services.Vhost} and databases {_services.Database("*")}");
            }
            catch (Exception ex)
            {
                Log.Info($"cleanup failed (harmless): {ex.Message}");
            }
        }
        else
        {
            Log.Info($"kept for inspection: vhost {_services.Vhost}, databases {_services.Database("*")}, logs {_runDir}");
        }
    }

    public void KillChildren()
    {
        foreach (var child in _children)
        {
            try
            {
                child.Kill();
            }
            catch (Exception)
            {
                // Best effort on the way out.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        KillChildren();
        _api?.Dispose();
        await Task.CompletedTask;
    }

    private void CreateChildren(string definitions)
    {
        var rabbit = _services.RabbitUri.ToString();
        var coordinatorDll = Path.Combine(repoRoot, "src", "Coordinator", "bin", configuration, "net10.0", "Sagas.Coordinator.dll");
        var hostDll = Path.Combine(repoRoot, "src", "Participants", "Sagas.Samples.Host", "bin", configuration, "net10.0", "Sagas.Samples.Host.dll");
        foreach (var dll in new[] { coordinatorDll, hostDll })
        {
            if (!File.Exists(dll))
            {
                throw new FileNotFoundException($"{dll} is missing: build the solution with -c {configuration} first", dll);
            }
        }

        for (var i = 0; i < options.Coordinators; i++)
        {
            var port = FreePort();
            var env = new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["DOTNET_NOLOGO"] = "1",
                ["Logging__LogLevel__Default"] = "Warning",
                ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",

                // EF logs every expected 23505 and every failed command during outages at Error: megabytes per run.
                ["Logging__LogLevel__Microsoft.EntityFrameworkCore"] = "Critical",
                ["Sagas__Mode"] = "Distributed",
                ["Sagas__HostSampleParticipants"] = "false",
                ["Sagas__Database__Provider"] = "Postgres",
                ["ConnectionStrings__Sagas"] = _services.ConnectionString("sagas"),
                ["Sagas__Transport__Kind"] = "RabbitMq",
                ["Sagas__Transport__RabbitMqUri"] = rabbit,
                ["Sagas__DefinitionsPath"] = definitions,

                // The API needs a key; the runner brings its own (X-Api-Key).
                ["Sagas__Auth__ApiKeys__0__Name"] = "chaos-runner",
                ["Sagas__Auth__ApiKeys__0__Key"] = _apiKey,
                ["Sagas__Auth__ApiKeys__0__Role"] = "Admin",

                // Instance 0 sends every outgoing message twice with the same id. Not every instance: with both doubling,
                // timed-out attempts pile up behind hot account rows and the payments queue collapses on this 2-core box.
                ["Sagas__DuplicateDelivery"] = (i == 0 && options.Faults.Contains(FaultKinds.Duplicates)) ? "true" : "false",
            };
            var child = new ChildProcess($"coordinator-{i}", ChildKind.Coordinator, coordinatorDll,
                ["--urls", $"http://127.0.0.1:{port}"], env, Path.Combine(_runDir, $"coordinator-{i}.log"))
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            };
            _coordinators.Add(child);
            _children.Add(child);
        }

        foreach (var service in new[] { "inventory", "payments", "shipping" })
        {
            var env = new Dictionary<string, string>
            {
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["DOTNET_NOLOGO"] = "1",
                ["Logging__LogLevel__Default"] = "Warning",
                ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
                ["Logging__LogLevel__Microsoft.EntityFrameworkCore"] = "Critical",
                ["Sagas__Transport__Kind"] = "RabbitMq",
                ["Sagas__Transport__RabbitMqUri"] = rabbit,
                ["Samples__Provider"] = "Postgres",
                ["ConnectionStrings__Inventory"] = _services.ConnectionString("inventory"),
                ["ConnectionStrings__Payments"] = _services.ConnectionString("payments"),
                ["ConnectionStrings__Shipping"] = _services.ConnectionString("shipping"),
            };
            var child = new ChildProcess(service, ChildKind.Participant, hostDll, ["--service", service], env, Path.Combine(_runDir, $"{service}.log"));
            _participants.Add(child);
            _children.Add(child);
        }
    }

    private async Task WaitReadyAsync(ChildProcess coordinator, CancellationToken ct) =>
        await WaitUntilAsync($"{coordinator.Name} ready", TimeSpan.FromSeconds(90), async () =>
        {
            if (!coordinator.Running)
            {
                throw new InvalidOperationException($"{coordinator.Name} exited during start-up:\n{coordinator.Tail(30)}");
            }

            return await _api.ReadyAsync(coordinator, ct);
        }, ct);

    private static async Task WaitUntilAsync(string what, TimeSpan limit, Func<Task<bool>> condition, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > limit)
            {
                throw new TimeoutException($"{what}: not reached within {limit.TotalSeconds:0}s");
            }

            await Task.Delay(250, ct);
        }
    }

    /// <summary>Every exit the runner did not cause is a crash: counted, logged, and the process restarted.</summary>
    private async Task SuperviseAsync(CancellationToken ct)
    {
        while (_supervising && !ct.IsCancellationRequested)
        {
            foreach (var child in _children)
            {
                if (child.TakeUnexpectedExit() is { } code)
                {
                    var note = $"{child.Name} exited by itself with code {code} at {Log.Elapsed.TotalSeconds:0.0}s; last log lines:\n{child.Tail(25)}";
                    lock (_crashes)
                    {
                        _crashes.Add(note);
                    }

                    Log.Info($"CRASH {child.Name} (exit {code}); restarting");
                    child.Start();
                }
            }

            await Task.Delay(500, ct);
        }
    }

    private async Task StartSagasAsync(List<SagaSpec> specs, Stopwatch phase, CancellationToken ct)
    {
        // Starts are spread over 85% of the duration so the last sagas still meet faults.
        var spread = TimeSpan.FromSeconds(options.DurationSeconds * 0.85);
        var deadline = TimeSpan.FromSeconds(options.DurationSeconds + (options.DrainSeconds / 2.0));
        using var gate = new SemaphoreSlim(24);
        var tasks = new List<Task>(specs.Count);
        for (var i = 0; i < specs.Count; i++)
        {
            var due = spread * i / specs.Count;
            var wait = due - phase.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct);
            }

            await gate.WaitAsync(ct);
            var spec = specs[i];
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    // The saga id is the idempotency key: a start that timed out is simply sent again.
                    var retryDelay = 250;
                    while (phase.Elapsed < deadline)
                    {
                        var outcome = await _api.StartAsync(spec, ct);
                        if (outcome is null)
                        {
                            return;
                        }

                        if (outcome.Value)
                        {
                            _accepted[spec.Id] = true;
                            return;
                        }

                        await Task.Delay(retryDelay, ct);
                        retryDelay = Math.Min(retryDelay * 2, 2000);
                    }

                    Log.Info($"saga #{spec.Index} was never accepted by any coordinator");
                }
                finally
                {
                    gate.Release();
                }
            }, ct));
        }

        await Task.WhenAll(tasks);
    }

    private async Task InjectFaultsAsync(Stopwatch phase, CancellationToken ct)
    {
        var kinds = FaultKinds.Events.Where(options.Faults.Contains).ToList();
        if (options.Faults.Contains(FaultKinds.Duplicates))
        {
            _injected[FaultKinds.Duplicates] = 1;
        }

        var duration = options.DurationSeconds;
        var plan = kinds.Select(k => (At: duration * (0.05 + (0.75 * _faultRandom.NextDouble())), Kind: k)).ToList();
        var extra = kinds.Count == 0 ? 0 : Math.Max(0, (duration / 6) - kinds.Count);
        for (var i = 0; i < extra; i++)
        {
            plan.Add((duration * (0.05 + (0.8 * _faultRandom.NextDouble())), kinds[_faultRandom.Next(kinds.Count)]));
        }

        plan.Sort((a, b) => a.At.CompareTo(b.At));
        Log.Info($"fault plan: {string.Join(", ", plan.Select(p => $"{p.At:0.0}s {p.Kind}"))}");
        foreach (var (at, kind) in plan)
        {
            var wait = TimeSpan.FromSeconds(at) - phase.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct);
            }

            try
            {
                await InjectAsync(kind, ct);
                _injected.AddOrUpdate(kind, 1, (_, n) => n + 1);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.Info($"fault {kind} could not be injected: {ex.Message}");
                await _services.RestoreAsync();
            }
        }

        // Let the last sagas run into the end of the fault phase before the drain starts.
        var rest = TimeSpan.FromSeconds(duration) - phase.Elapsed;
        if (rest > TimeSpan.Zero)
        {
            await Task.Delay(rest, ct);
        }
    }

    private async Task InjectAsync(string kind, CancellationToken ct)
    {
        switch (kind)
        {
            case FaultKinds.CoordinatorKill:
                await KillAndRestartAsync(_coordinators, ct);
                break;
            case FaultKinds.ParticipantKill:
                await KillAndRestartAsync(_participants, ct);
                break;
            case FaultKinds.ParticipantFreeze:
                {
                    var target = _participants[_faultRandom.Next(_participants.Count)];
                    var pause = Pause(4, 7);
                    Log.Info($"fault {kind}: SIGSTOP {target.Name} (pid {target.Pid}) for {pause.TotalSeconds:0.0}s (step timeout 3s)");
                    target.Freeze();
                    await Task.Delay(pause, ct);
                    target.Thaw();
                    break;
                }

            case FaultKinds.RabbitMq:
                {
                    var pause = Pause(2, 6);
                    Log.Info($"fault {kind}: rabbitmqctl stop_app for {pause.TotalSeconds:0.0}s");
                    await _services.StopRabbitAsync();
                    await Task.Delay(pause, ct);
                    await _services.StartRabbitAsync();
                    Log.Info("rabbitmq back");
                    break;
                }

            case FaultKinds.RabbitMqInFlight:
                {
                    var target = _participants[_faultRandom.Next(_participants.Count)];
                    var freeze = Pause(2, 4);
                    var pause = Pause(2, 5);
                    Log.Info($"fault {kind}: SIGSTOP {target.Name} (pid {target.Pid}) for {freeze.TotalSeconds:0.0}s, then rabbitmqctl stop_app with its backlog in hand for {pause.TotalSeconds:0.0}s");
                    target.Freeze();
                    await Task.Delay(freeze, ct);
                    target.Thaw();

                    // Long enough for the thawed process to take a prefetch's worth of deliveries, short enough that it has not answered them.
                    await Task.Delay(TimeSpan.FromMilliseconds(300), ct);
                    await _services.StopRabbitAsync();
                    await Task.Delay(pause, ct);
                    await _services.StartRabbitAsync();
                    Log.Info("rabbitmq back");
                    break;
                }

            case FaultKinds.Postgres:
                {
                    var pause = Pause(2, 6);
                    Log.Info($"fault {kind}: pg_ctl stop -m fast for {pause.TotalSeconds:0.0}s");
                    await _services.StopPostgresAsync();
                    await Task.Delay(pause, ct);
                    await _services.StartPostgresAsync();
                    Log.Info("postgresql back");
                    break;
                }

            case FaultKinds.PostgresCut:
                {
                    var cut = await _services.CutPostgresConnectionsAsync();
                    Log.Info($"fault {kind}: terminated {cut} server connection(s) of the run's databases");
                    break;
                }

            case FaultKinds.Poison:
                {
                    await using var broker = new Broker(_services.RabbitUri);
                    await broker.ConnectAsync(ct);
                    var count = await Poison.PublishBurstAsync(broker, _faultRandom, ct);
                    Log.Info($"fault {kind}: published {count} poison messages into {string.Join(", ", Broker.Queues)}");
                    break;
                }

            case FaultKinds.Replay:
                await ReplayAsync(ct);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    private async Task KillAndRestartAsync(List<ChildProcess> group, CancellationToken ct)
    {
        var candidates = group.Where(c => c.Available).ToList();
        if (candidates.Count == 0)
        {
            throw new InvalidOperationException("no process of the group is up");
        }

        var target = candidates[_faultRandom.Next(candidates.Count)];
        var pause = Pause(1, 5);
        Log.Info($"fault {(target.Kind == ChildKind.Coordinator ? FaultKinds.CoordinatorKill : FaultKinds.ParticipantKill)}: SIGKILL {target.Name} (pid {target.Pid}), restart in {pause.TotalSeconds:0.0}s");
        target.Kill();
        await Task.Delay(pause, ct);
        target.Start();
    }

    /// <summary>
    /// Publishes genuine messages again, late and shuffled: the reply each participant's barrier says it gave
    /// (to attempt 1, which was always sent), and the commands the coordinator sent, including actions after
    /// their compensation. A barrier row proves the message was genuinely possible; anything else would be forgery.
    /// </summary>
    private async Task ReplayAsync(CancellationToken ct)
    {
        var ids = _accepted.Keys.OrderBy(_ => _faultRandom.Next()).Take(25).ToList();
        if (ids.Count == 0)
        {
            Log.Info($"fault {FaultKinds.Replay}: nothing to replay yet");
            return;
        }

        var rows = (await Ledger.ReadBarrierAsync(_services, ids, ct)).OrderBy(_ => _faultRandom.Next()).ToList();
        await using var broker = new Broker(_services.RabbitUri);
        await broker.ConnectAsync(ct);
        int replies = 0, commands = 0;
        foreach (var row in rows)
        {
            var step = Steps.First(s => s.Step == row.Step);
            var (type, message) = ReplyFor(row);
            var messageId = Guid.NewGuid();
            await broker.PublishEnvelopeAsync("sagas-coordinator", type, message, row.SagaId, messageId, ct);

            // The same message id again: the coordinator's inbox must drop it.
            await broker.PublishEnvelopeAsync("sagas-coordinator", type, message.DeepClone(), row.SagaId, messageId, ct);
            replies += 2;
            if (_faultRandom.NextDouble() < 0.6)
            {
                // The start data: what the participants read from every command (outputs merged later are not used by them).
                var sagaData = _specs[row.SagaId].Data();
                var command = new JsonObject
                {
                    ["sagaId"] = row.SagaId.ToString(),
                    ["definition"] = Workload.Definition,
                    ["version"] = 1,
                    ["step"] = row.Step,
                    ["attempt"] = 1,
                    ["data"] = sagaData,
                };
                if (row.Op == "action")
                {
                    command["action"] = step.Action;
                    await broker.PublishEnvelopeAsync(step.Service, "ExecuteStep", command, row.SagaId, ct: ct);
                }
                else
                {
                    command["compensation"] = step.Compensation;
                    await broker.PublishEnvelopeAsync(step.Service, "CompensateStep", command, row.SagaId, ct: ct);
                }

                commands++;
            }
        }

        Log.Info($"fault {FaultKinds.Replay}: re-published {replies} genuine replies (half of them with a repeated message id) and {commands} commands for {ids.Count} sagas");
    }

    /// <summary>Breaks the books on purpose (--tamper): the oracle must report an inconsistency and a double effect.</summary>
    private async Task TamperAsync(List<SagaSpec> specs, Dictionary<Guid, SagaStatus?> states, CancellationToken ct)
    {
        var completed = specs.Where(s => states.GetValueOrDefault(s.Id)?.State == "Completed").Take(2).ToList();
        if (completed.Count < 2)
        {
            Log.Info("tamper: fewer than two completed sagas, nothing tampered");
            return;
        }

        await using (var inventory = new Npgsql.NpgsqlConnection(_services.RunnerConnectionString("inventory")))
        {
            await inventory.OpenAsync(ct);
            await using var release = new Npgsql.NpgsqlCommand("UPDATE reservations SET released = true WHERE saga_id = @id", inventory);
            release.Parameters.AddWithValue("id", completed[0].Id);
            await release.ExecuteNonQueryAsync(ct);
        }

        await using (var payments = new Npgsql.NpgsqlConnection(_services.RunnerConnectionString("payments")))
        {
            await payments.OpenAsync(ct);
            await using var debit = new Npgsql.NpgsqlCommand(
                "UPDATE accounts SET balance_cents = balance_cents - c.amount_cents FROM charges c WHERE c.saga_id = @id AND accounts.customer_id = c.customer_id", payments);
            debit.Parameters.AddWithValue("id", completed[1].Id);
            await debit.ExecuteNonQueryAsync(ct);
        }

        Log.Info($"tamper: released the reservation of #{completed[0].Index} and charged #{completed[1].Index} a second time");
    }

    private static (string Type, JsonObject Message) ReplyFor(BarrierEntry row)
    {
        var message = new JsonObject { ["sagaId"] = row.SagaId.ToString(), ["step"] = row.Step, ["attempt"] = 1 };
        if (row.Op == "compensation")
        {
            return ("StepCompensated", message);
        }

        switch (row.Outcome)
        {
            case "succeeded":
                message["output"] = row.Output is null ? null : JsonNode.Parse(row.Output);
                return ("StepSucceeded", message);
            default:
                message["retryable"] = false;
                message["reason"] = row.Outcome == "refused" ? "refused: compensated before the action ran" : row.Reason ?? "failed";
                message["retryAfter"] = null;
                return ("StepFailed", message);
        }
    }

    private async Task<Dictionary<Guid, SagaStatus?>> DrainAsync(List<SagaSpec> specs, CancellationToken ct)
    {
        var states = new Dictionary<Guid, SagaStatus?>();
        var watch = Stopwatch.StartNew();
        var limit = TimeSpan.FromSeconds(options.DrainSeconds);
        var pending = specs.Select(s => s.Id).ToList();
        while (true)
        {
            var polled = new ConcurrentDictionary<Guid, SagaStatus?>();
            await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
                async (id, token) => polled[id] = await TryGetAsync(id, token));
            foreach (var (id, status) in polled)
            {
                states[id] = status;
            }

            pending = pending.Where(id => polled[id] is not { } st || !IsTerminal(st.State)).ToList();
            if (pending.Count == 0 || watch.Elapsed > limit)
            {
                break;
            }

            Log.Info($"drain: {pending.Count} saga(s) not terminal yet");
            await Task.Delay(2000, ct);
        }

        Log.Info(pending.Count == 0
            ? $"drain: every saga is terminal after {watch.Elapsed.TotalSeconds:0.0}s"
            : $"drain: gave up after {watch.Elapsed.TotalSeconds:0.0}s with {pending.Count} saga(s) not terminal");
        return states;
    }

    private async Task<SagaStatus?> TryGetAsync(Guid id, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await _api.GetAsync(id, ct);
            }
            catch (InvalidOperationException) when (attempt < 10)
            {
                await Task.Delay(500, ct);
            }
        }
    }

    private static bool IsTerminal(string state) => state is "Completed" or "Compensated" or "Failed" or "Cancelled";

    private TimeSpan Pause(double min, double max) => TimeSpan.FromSeconds(min + ((max - min) * _faultRandom.NextDouble()));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The three order-fulfilment steps with short timeouts and patient compensation, so outages are ridden out quickly.</summary>
    private static string DefinitionJson()
    {
        var steps = new JsonArray();
        foreach (var (service, step, action, compensation) in Steps)
        {
            steps.Add(new JsonObject
            {
                ["name"] = step,
                ["participant"] = service,
                ["action"] = action,
                ["compensation"] = compensation,
                ["timeout"] = "00:00:03",
                ["retry"] = new JsonObject { ["maxAttempts"] = 5, ["initialDelay"] = "00:00:00.200", ["maxDelay"] = "00:00:02" },
                ["compensationRetry"] = new JsonObject { ["maxAttempts"] = 20, ["initialDelay"] = "00:00:00.200", ["maxDelay"] = "00:00:02" },
            });
        }

        var definition = new JsonObject
        {
            ["name"] = Workload.Definition,
            ["version"] = 1,
            ["description"] = "Chaos run: order-fulfilment with 3 s timeouts, 5 attempts per action and 20 per compensation.",
            ["steps"] = steps,
        };
        return definition.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
