using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>The coordinator's SQL Server store: runs where Docker exists and reports itself skipped, by name, where it does not.</summary>
public sealed class SqlServerScenarios
{
    private const string NoDocker = "SQL Server needs Docker (Testcontainers) and this machine has no Docker engine";

    [SkippableFact]
    public async Task SqlServer_HappyPathAndCompensation_LedgerMatchesOutcome()
    {
        Skip.IfNot(SqlServerBackend.DockerAvailable, NoDocker);
        var backend = new SqlServerBackend();
        await backend.InitializeAsync();
        try
        {
            var happy = await backend.NewOrderAsync(stock: 10, balance: 100m, amount: 25m, quantity: 1);
            var refused = await backend.NewOrderAsync(country: "AQ", stock: 10, balance: 100m, amount: 25m, quantity: 1);

            var happyId = await backend.StartAsync(TestDefinitions.Shipped, happy);
            var refusedId = await backend.StartAsync(TestDefinitions.Shipped, refused);
            await backend.WaitForStateAsync(happyId, "Completed");
            await backend.WaitForStateAsync(refusedId, "Compensated");

            Assert.Equal(9, await backend.Ledger.GetStockAsync(happy.Sku));
            Assert.Equal(75m, await backend.Ledger.GetBalanceAsync(happy.CustomerId));
            Assert.Equal(10, await backend.Ledger.GetStockAsync(refused.Sku));
            Assert.Equal(100m, await backend.Ledger.GetBalanceAsync(refused.CustomerId));
        }
        finally
        {
            await backend.DisposeAsync();
        }
    }
}
