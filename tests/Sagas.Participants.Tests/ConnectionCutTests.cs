using Microsoft.EntityFrameworkCore;
using Npgsql;
using Sagas.Samples.Inventory;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// Probe for the chaos seed-2 finding: when the server ends a connection in the middle of a transaction, a later
/// ExecuteUpdate on the same DbContext must fail, never run on a fresh connection outside the transaction.
/// </summary>
public sealed class ConnectionCutTests
{
    [SkippableFact]
    public async Task ExecuteUpdate_AfterServerKilledConnectionMidTransaction_DoesNotCommitOnItsOwn()
    {
        var server = Environment.GetEnvironmentVariable(ParticipantFixture.PostgresVariable);
        Skip.If(string.IsNullOrEmpty(server), "needs PostgreSQL (SAGAS_TEST_POSTGRES)");
        var database = "sagas_cut_" + Guid.NewGuid().ToString("N")[..8];
        var connection = new NpgsqlConnectionStringBuilder(server) { Database = database }.ConnectionString;
        var options = new DbContextOptionsBuilder<InventoryDb>().UseNpgsql(connection).Options;
        await using (var setup = new InventoryDb(options))
        {
            await setup.Database.EnsureCreatedAsync();
            setup.Stock.Add(new StockItem { Sku = "sku-cut", Available = 100 });
            await setup.SaveChangesAsync();
        }

        await using (var db = new InventoryDb(options))
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            await db.Stock.Where(s => s.Sku == "sku-cut").ExecuteUpdateAsync(s => s.SetProperty(x => x.Available, x => x.Available - 2));
            var pid = await db.Database.SqlQueryRaw<int>("select pg_backend_pid() as \"Value\"").SingleAsync();
            await using (var admin = new NpgsqlConnection(server))
            {
                await admin.OpenAsync();
                await using var kill = new NpgsqlCommand($"select pg_terminate_backend({pid})", admin);
                await kill.ExecuteScalarAsync();
            }

            await Task.Delay(200);
            var second = await Record.ExceptionAsync(() => db.Stock.Where(s => s.Sku == "sku-cut").ExecuteUpdateAsync(s => s.SetProperty(x => x.Available, x => x.Available + 2)));
            Assert.NotNull(second);
        }

        await using var check = new InventoryDb(options);
        Assert.Equal(100, await check.Stock.Where(s => s.Sku == "sku-cut").Select(s => s.Available).SingleAsync());
        await check.Database.EnsureDeletedAsync();
    }
}
