using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Sagas.Contracts;
using Sagas.Samples;
using Sagas.Samples.Inventory;
using Sagas.Samples.Payments;
using Sagas.Samples.Shipping;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// The three samples plus the probe participant on one provider, without a broker: tests call the dispatchers
/// directly. Each test class gets its own SQLite directory or PostgreSQL databases.
/// </summary>
public abstract class ParticipantFixture : IAsyncLifetime
{
    public const string PostgresVariable = "SAGAS_TEST_POSTGRES";

    private readonly string _key = Guid.NewGuid().ToString("N")[..10];
    private ServiceProvider? _services;
    private string? _sqliteDirectory;

    protected abstract SampleProvider Provider { get; }

    /// <summary>False when the provider is not configured here (PostgreSQL without <see cref="PostgresVariable"/>).</summary>
    public virtual bool Available => true;

    public IServiceProvider Services => _services ?? throw new InvalidOperationException("Fixture not initialized.");

    public ScriptedParticipantFaults Faults { get; } = new();

    public FlakyCounter Flaky { get; } = new();

    public HandlerGates Gates { get; } = new();

    public SampleLedger Ledger => Services.GetRequiredService<SampleLedger>();

    public RecordingReplySender Replies { get; } = new();

    /// <summary>Transactions of the probe participant committed through EF (not by a command ending in COMMIT).</summary>
    public CommitCounter ProbeCommits { get; } = new();

    /// <summary>Every command the probe participant ran.</summary>
    public CommandLog ProbeCommands { get; } = new();

    public StepReporter<ProbeDb> ProbeReporter => Services.GetRequiredService<StepReporter<ProbeDb>>();

    public StepDispatcher<InventoryDb> Inventory => Services.GetRequiredService<StepDispatcher<InventoryDb>>();

    public StepDispatcher<PaymentsDb> Payments => Services.GetRequiredService<StepDispatcher<PaymentsDb>>();

    public StepDispatcher<ShippingDb> Shipping => Services.GetRequiredService<StepDispatcher<ShippingDb>>();

    public StepDispatcher<ProbeDb> Probe => Services.GetRequiredService<StepDispatcher<ProbeDb>>();

    /// <summary>The committed outcomes of a probe saga's barrier rows of one kind.</summary>
    public async Task<List<string>> BarrierOutcomesAsync(Guid sagaId, string op = BarrierOps.Action)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProbeDb>();
        return await db.Barrier.AsNoTracking().Where(b => b.SagaId == sagaId && b.Op == op).Select(b => b.Outcome).ToListAsync();
    }

    /// <summary>The texts of a probe saga's committed notes.</summary>
    public async Task<List<string>> ProbeNotesAsync(Guid sagaId)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProbeDb>();
        return await db.Notes.AsNoTracking().Where(n => n.SagaId == sagaId).Select(n => n.Text).ToListAsync();
    }

    public async Task InitializeAsync()
    {
        if (!Available)
        {
            return;
        }

        SamplesOptions options;
        string probe;
        if (Provider == SampleProvider.Sqlite)
        {
            _sqliteDirectory = Path.Combine(Path.GetTempPath(), "sagas-participants-tests", _key);
            options = SamplesOptions.ForSqlite(_sqliteDirectory);
            probe = Path.Combine(_sqliteDirectory, "probe.db");
        }
        else
        {
            options = SamplesOptions.ForPostgres(PostgresBase!, DatabasePrefix);
            probe = SamplesOptions.WithDatabase(PostgresBase!, DatabasePrefix + "probe");
        }

        // Lists AQ on purpose: the rule that Antarctica is never served must win over configuration.
        foreach (var country in new[] { "NL", "BE", "DE", "AQ" })
        {
            options.ShippingCountries.Add(country);
        }

        var services = new ServiceCollection();
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IParticipantFaults>(Faults);
        services.AddSingleton(Flaky);
        services.AddSingleton(Gates);
        services.AddSingleton<IStepReplySender>(Replies);
        services.AddSampleParticipants(options);
        services.AddSagaParticipant<ProbeDb>(
            "probe",
            (_, db) =>
            {
                if (Provider == SampleProvider.Sqlite)
                {
                    db.UseSagasSqlite(probe);
                }
                else
                {
                    db.UseNpgsql(probe);
                }

                db.AddInterceptors(ProbeCommits, ProbeCommands);
            },
            p => p.AddHandler<WriteThenFailHandler>().AddHandler<FlakyHandler>().AddHandler<RetryLaterHandler>().AddHandler<LongWorkHandler>().AddHandler<NoteHandler>().AddHandler<FailFirstHandler>().AddHandler<GatedNoteHandler>()
                .ConfigureRetry(r => r.Delay = TimeSpan.FromMilliseconds(5)));
        _services = services.BuildServiceProvider(validateScopes: true);

        await ParticipantDatabase.InitializeAsync<InventoryDb>(Services);
        await ParticipantDatabase.InitializeAsync<PaymentsDb>(Services);
        await ParticipantDatabase.InitializeAsync<ShippingDb>(Services);
        await ParticipantDatabase.InitializeAsync<ProbeDb>(Services);
    }

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_sqliteDirectory is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_sqliteDirectory, recursive: true);
        }

        if (Provider == SampleProvider.Postgres && Available)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(SamplesOptions.WithDatabase(PostgresBase!, "postgres"));
            await connection.OpenAsync();
            foreach (var name in new[] { "inventory", "payments", "shipping", "probe" })
            {
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabasePrefix}{name}\" WITH (FORCE)", connection);
                await drop.ExecuteNonQueryAsync();
            }
        }
    }

    protected static string? PostgresBase => Environment.GetEnvironmentVariable(PostgresVariable);

    private string DatabasePrefix => $"sagas_test_{_key}_";
}

public sealed class SqliteParticipantFixture : ParticipantFixture
{
    protected override SampleProvider Provider => SampleProvider.Sqlite;
}

public sealed class PostgresParticipantFixture : ParticipantFixture
{
    public override bool Available => !string.IsNullOrWhiteSpace(PostgresBase);

    protected override SampleProvider Provider => SampleProvider.Postgres;
}

/// <summary>Builds step messages carrying the demo order shape.</summary>
public static class Orders
{
    public static JsonElement Data(string sku = "sku-1", string customer = "c-1", int quantity = 1, decimal amount = 25.00m, string country = "NL", string? orderId = null) =>
        JsonSerializer.SerializeToElement(new { orderId = orderId ?? "o-" + Guid.NewGuid().ToString("N")[..8], customerId = customer, sku, quantity, amount, country });

    public static ExecuteStep Execute(Guid sagaId, string step, string action, int attempt, JsonElement data) =>
        new(sagaId, "order", 1, step, action, attempt, data);

    public static CompensateStep Compensate(Guid sagaId, string step, string compensation, int attempt, JsonElement data) =>
        new(sagaId, "order", 1, step, compensation, attempt, data);

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";
}
