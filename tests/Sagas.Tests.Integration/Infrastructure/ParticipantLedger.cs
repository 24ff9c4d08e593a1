using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Sagas.Participants;
using Sagas.Samples;
using Sagas.Samples.Inventory;
using Sagas.Samples.Payments;
using Sagas.Samples.Shipping;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// The sample participants' databases seen from the test process: creates their schema, seeds and reads them
/// through <see cref="SampleLedger"/> while the participants themselves run in another process.
/// </summary>
public sealed class ParticipantLedger : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private ParticipantLedger(SamplesOptions options)
    {
        Options = options;
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSampleParticipants(options);
        _services = services.BuildServiceProvider();
        Ledger = _services.GetRequiredService<SampleLedger>();
    }

    public SamplesOptions Options { get; }

    public SampleLedger Ledger { get; }

    /// <summary>Creates the three databases and schemas (PostgreSQL: the databases too) before any participant starts.</summary>
    public static async Task<ParticipantLedger> CreateAsync(SamplesOptions options)
    {
        var ledger = new ParticipantLedger(options);
        await ParticipantDatabase.InitializeAsync<InventoryDb>(ledger._services);
        await ParticipantDatabase.InitializeAsync<PaymentsDb>(ledger._services);
        await ParticipantDatabase.InitializeAsync<ShippingDb>(ledger._services);
        return ledger;
    }

    /// <summary>A fresh order on a fresh SKU and customer.</summary>
    public async Task<Order> NewOrderAsync(long stock = 1000, decimal balance = 10_000m, decimal amount = 25m, int quantity = 2, string country = "NL")
    {
        var suffix = Guid.NewGuid().ToString("N")[..10];
        var order = new Order($"o-{suffix}", $"c-{suffix}", $"sku-{suffix}", quantity, amount, country);
        await Ledger.SeedStockAsync(order.Sku, stock);
        await Ledger.SeedCustomerAsync(order.CustomerId, balance);
        return order;
    }

    /// <summary>
    /// Blocks writes to the shipments (the shipping participant's effect) until disposed: SQLite takes the
    /// database's write lock, PostgreSQL an EXCLUSIVE lock on the table (reads still go through).
    /// </summary>
    public async Task<IAsyncDisposable> LockShipmentsAsync()
    {
        if (Options.Provider == SampleProvider.Sqlite)
        {
            var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(Options.Shipping), Pooling = false }.ToString());
            await connection.OpenAsync();
            await using (var begin = connection.CreateCommand())
            {
                begin.CommandText = "BEGIN IMMEDIATE;";
                await begin.ExecuteNonQueryAsync();
            }

            return connection;
        }

        var pg = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Options.Shipping) { Pooling = false }.ConnectionString);
        await pg.OpenAsync();
        await using (var command = pg.CreateCommand())
        {
            command.CommandText = "BEGIN; LOCK TABLE shipments IN EXCLUSIVE MODE;";
            await command.ExecuteNonQueryAsync();
        }

        return pg;
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
