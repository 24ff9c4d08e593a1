using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Hosting;

/// <summary><c>Sagas.Coordinator migrate</c>: applies the schema and exits, so production start-up never changes the schema by surprise.</summary>
public static class MigrateCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddSagasPersistence();
        using var host = builder.Build();
        var factory = host.Services.GetRequiredService<SagasDbFactory>();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("migrate");
        await using var db = factory.Create();
        var pending = (await db.Database.GetPendingMigrationsAsync()).ToList();
        await db.Database.MigrateAsync();
        logger.LogInformation("Applied {Count} migration(s) to the {Provider} database: {Migrations}", pending.Count, factory.Provider, string.Join(", ", pending));
        return 0;
    }
}
