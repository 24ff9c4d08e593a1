using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Hosting;

/// <summary>Waits for the database, applies migrations (when allowed) and registers the definition files.</summary>
public sealed class StartupInitializer(
    SagasDbFactory dbFactory,
    DefinitionRegistry registry,
    IOptions<SagasOptions> sagas,
    IOptions<DatabaseOptions> database,
    ILogger<StartupInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The database may still be starting (compose, a restart after an outage): wait instead of crashing.
        var waitForDatabase = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = 30,
                Delay = TimeSpan.FromSeconds(1),
                BackoffType = DelayBackoffType.Exponential,
                MaxDelay = TimeSpan.FromSeconds(5),
                UseJitter = true,
                // Only trouble reaching the database is worth waiting for; a model or migration error is final.
                ShouldHandle = new PredicateBuilder().Handle<Exception>(TransientDatabaseErrors.IsTransient),
                OnRetry = args =>
                {
                    logger.LogWarning(args.Outcome.Exception, "Database not ready (attempt {Attempt}); waiting", args.AttemptNumber + 1);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

        // Registering the definitions talks to the database too: a connection cut there must not kill the start.
        await waitForDatabase.ExecuteAsync(
            async ct =>
            {
                await MigrateAsync(ct);
                await DefinitionLoader.LoadAsync(registry, sagas.Value, logger, ct);
            },
            cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task MigrateAsync(CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        if (database.Value.MigrateOnStart)
        {
            await db.Database.MigrateAsync(ct);
            if (dbFactory.Provider == DatabaseProvider.Sqlite)
            {
                // WAL lets the API read while the coordinator writes.
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
            }

            return;
        }

        var pending = await db.Database.GetPendingMigrationsAsync(ct);
        if (pending.Any())
        {
            throw new SchemaBehindException(
                $"The database schema is behind ({string.Join(", ", pending)}); run 'Sagas.Coordinator migrate' or set Sagas:Database:MigrateOnStart=true");
        }
    }
}

/// <summary>The schema needs migrations and start-up may not apply them: waiting will not help.</summary>
public sealed class SchemaBehindException(string message) : Exception(message);
