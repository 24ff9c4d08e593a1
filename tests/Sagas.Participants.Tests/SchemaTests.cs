using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Sagas.Contracts;
using Sagas.Samples;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// A participant whose DbContext puts its tables in a schema of its own (<c>HasDefaultSchema</c>, common where services
/// share one database) keeps every barrier guarantee: the barrier's hand-written claim names the table as the model
/// maps it. And a provider the barrier was not built for stops the start with an error that says so.
/// </summary>
public sealed class SchemaTests : IAsyncLifetime
{
    private const string Schema = "loyalty";

    private readonly string _key = Guid.NewGuid().ToString("N")[..10];
    private readonly List<ServiceProvider> _providers = [];
    private string? _sqliteDirectory;
    private string? _postgresDatabase;

    public static TheoryData<string> Providers => ["sqlite", "postgres"];

    private static string? PostgresBase => Environment.GetEnvironmentVariable(ParticipantFixture.PostgresVariable);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }

        if (_sqliteDirectory is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_sqliteDirectory, recursive: true);
        }

        if (_postgresDatabase is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(SamplesOptions.WithDatabase(PostgresBase!, "postgres"));
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_postgresDatabase}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Providers))]
    public async Task DefaultSchema_DuplicatesAnsweredFromTheRow_CompensationsOnceAndInOrder(string kind)
    {
        Skip.If(kind == "postgres" && string.IsNullOrWhiteSpace(PostgresBase), ParticipantFixture.PostgresVariable + " not set");
        var services = await StartAsync(kind);
        var dispatcher = services.GetRequiredService<StepDispatcher<SchemaDb>>();
        var saga = Guid.NewGuid();

        // Attempt 1 (on PostgreSQL its key is written with the outcome), then a re-driven attempt 2, which claims its key
        // first with the barrier's own INSERT: it must find the row and reply from it without running the handler.
        var first = Assert.IsType<StepSucceeded>(await dispatcher.ExecuteAsync(Orders.Execute(saga, "grant", "grant", 1, Orders.Data()), default));
        var second = Assert.IsType<StepSucceeded>(await dispatcher.ExecuteAsync(Orders.Execute(saga, "grant", "grant", 2, Orders.Data()), default));
        Assert.Equal(first.Output!.Value.GetRawText(), second.Output!.Value.GetRawText());
        Assert.Equal([false], await GrantsAsync(services, saga));

        Assert.IsType<StepCompensated>(await dispatcher.CompensateAsync(Orders.Compensate(saga, "grant", "revoke", 1, Orders.Data()), default));
        Assert.IsType<StepCompensated>(await dispatcher.CompensateAsync(Orders.Compensate(saga, "grant", "revoke", 2, Orders.Data()), default));
        Assert.Equal([true], await GrantsAsync(services, saga));

        // A compensation that overtakes its action records the refusal; the late action then claims, finds it, stays out.
        var overtaken = Guid.NewGuid();
        Assert.IsType<StepCompensated>(await dispatcher.CompensateAsync(Orders.Compensate(overtaken, "grant", "revoke", 1, Orders.Data()), default));
        var late = Assert.IsType<StepFailed>(await dispatcher.ExecuteAsync(Orders.Execute(overtaken, "grant", "grant", 2, Orders.Data()), default));
        Assert.False(late.Retryable);
        Assert.Equal(StepDispatcher<SchemaDb>.RefusedReason, late.Reason);
        Assert.Empty(await GrantsAsync(services, overtaken));

        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<SchemaDb>();
        var rows = await db.Barrier.AsNoTracking().Where(b => b.SagaId == saga || b.SagaId == overtaken).OrderBy(b => b.Op).ToListAsync();
        Assert.Equal(
            [(saga, BarrierOps.Action, BarrierOutcomes.Succeeded), (overtaken, BarrierOps.Action, BarrierOutcomes.Refused), (saga, BarrierOps.Compensation, BarrierOutcomes.Compensated), (overtaken, BarrierOps.Compensation, BarrierOutcomes.NothingToUndo)],
            rows.OrderBy(r => r.Op).ThenBy(r => r.SagaId == saga ? 0 : 1).Select(r => (r.SagaId, r.Op, r.Outcome)));
        if (kind == "postgres")
        {
            // The rows are in the participant's schema, and nothing was created beside it.
            await using var connection = new NpgsqlConnection(SamplesOptions.WithDatabase(PostgresBase!, _postgresDatabase!));
            await connection.OpenAsync();
            await using var tables = new NpgsqlCommand("SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1", connection);
            var names = new List<string>();
            await using (var reader = await tables.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    names.Add(reader.GetString(0));
                }
            }

            Assert.Equal([$"{Schema}.grants", $"{Schema}.saga_barrier"], names);
        }
    }

    [Fact]
    public async Task UnsupportedProvider_StopsTheStartWithAnErrorThatNamesIt()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddSagaParticipant<SchemaDb>(
            "loyalty",
            (_, db) => db.UseSqlServer("Server=127.0.0.1,1;Database=loyalty;Connect Timeout=1;Encrypt=false"),
            p => p.AddHandler<GrantHandler>());
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        var initializer = provider.GetServices<IHostedService>().Single(s => s.GetType().Name.StartsWith("ParticipantInitializer", StringComparison.Ordinal));

        // Fails at once: no retry loop waiting for a database that would never do.
        var error = await Assert.ThrowsAsync<NotSupportedException>(() => initializer.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token));
        Assert.Contains("SchemaDb uses the database provider Microsoft.EntityFrameworkCore.SqlServer", error.Message, StringComparison.Ordinal);
        Assert.Contains("SQLite", error.Message, StringComparison.Ordinal);
        Assert.Contains("PostgreSQL", error.Message, StringComparison.Ordinal);
    }

    private async Task<ServiceProvider> StartAsync(string kind)
    {
        var services = new ServiceCollection().AddLogging();
        if (kind == "sqlite")
        {
            _sqliteDirectory = Path.Combine(Path.GetTempPath(), "sagas-schema-tests", _key);
            var path = Path.Combine(_sqliteDirectory, "loyalty.db");
            services.AddSagaParticipant<SchemaDb>("loyalty", (_, db) => db.UseSagasSqlite(path), p => p.AddHandler<GrantHandler>());
        }
        else
        {
            _postgresDatabase = $"sagas_test_{_key}_loyalty";
            var connection = SamplesOptions.WithDatabase(PostgresBase!, _postgresDatabase);
            services.AddSagaParticipant<SchemaDb>("loyalty", (_, db) => db.UseSagasPostgres(connection), p => p.AddHandler<GrantHandler>());
        }

        var provider = services.BuildServiceProvider(validateScopes: true);
        _providers.Add(provider);
        await ParticipantDatabase.InitializeAsync<SchemaDb>(provider);
        return provider;
    }

    private static async Task<List<bool>> GrantsAsync(IServiceProvider services, Guid sagaId)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<SchemaDb>();
        return await db.Grants.AsNoTracking().Where(g => g.SagaId == sagaId).Select(g => g.Revoked).ToListAsync();
    }

    public sealed class SchemaDb(DbContextOptions<SchemaDb> options) : ParticipantDbContext(options)
    {
        public DbSet<Grant> Grants => Set<Grant>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.HasDefaultSchema(Schema);
            base.OnModelCreating(modelBuilder);
            modelBuilder.Entity<Grant>(b =>
            {
                b.ToTable("grants");
                b.HasKey(x => new { x.SagaId, x.Step });
            });
        }
    }

    public sealed class Grant
    {
        public Guid SagaId { get; set; }

        public string Step { get; set; } = "";

        public bool Revoked { get; set; }
    }

    /// <summary>Writes one grant per run: a second run for the same step would fail on its key, so running twice shows.</summary>
    public sealed class GrantHandler : StepHandler<SchemaDb>
    {
        public override string Action => "grant";

        public override string? Compensation => "revoke";

        protected override Task<StepResult> ExecuteAsync(StepContext context, SchemaDb db, CancellationToken cancellationToken)
        {
            db.Grants.Add(new Grant { SagaId = context.SagaId, Step = context.Step });
            return Task.FromResult(StepResult.SucceededWith(new { granted = context.Step, attempt = context.Attempt }));
        }

        protected override async Task<CompensationResult> CompensateAsync(StepContext context, SchemaDb db, CancellationToken cancellationToken)
        {
            var (sagaId, step) = (context.SagaId, context.Step);
            var grant = await db.Grants.FirstAsync(g => g.SagaId == sagaId && g.Step == step, cancellationToken);
            grant.Revoked = !grant.Revoked;
            return CompensationResult.Compensated;
        }
    }
}
