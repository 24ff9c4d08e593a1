using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Samples.Inventory;
using Sagas.Samples.Payments;
using Sagas.Samples.Shipping;

namespace Sagas.Samples;

/// <summary>Reads and seeds the samples' state, so tests and demos assert on real stock, balances and shipments.</summary>
public sealed class SampleLedger(IServiceScopeFactory scopes)
{
    public async Task<long?> GetStockAsync(string sku, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InventoryDb>();
        return await db.Stock.Where(s => s.Sku == sku).Select(s => (long?)s.Available).FirstOrDefaultAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<Reservation>> GetReservationsAsync(string sku, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InventoryDb>();
        return await db.Reservations.AsNoTracking().Where(r => r.Sku == sku).ToListAsync(cancellationToken);
    }

    /// <summary>Sets a SKU's available stock, creating the SKU if needed.</summary>
    public async Task SeedStockAsync(string sku, long available, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InventoryDb>();
        var item = await db.Stock.FirstOrDefaultAsync(s => s.Sku == sku, cancellationToken);
        if (item is null)
        {
            db.Stock.Add(new StockItem { Sku = sku, Available = available });
        }
        else
        {
            item.Available = available;
        }

        await db.SaveChangesAsync(cancellationToken);
    }

    public async Task<decimal?> GetBalanceAsync(string customerId, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentsDb>();
        var cents = await db.Accounts.Where(a => a.CustomerId == customerId).Select(a => (long?)a.BalanceCents).FirstOrDefaultAsync(cancellationToken);
        return cents / 100m;
    }

    public async Task<IReadOnlyList<Charge>> GetChargesAsync(string customerId, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentsDb>();
        return await db.Charges.AsNoTracking().Where(c => c.CustomerId == customerId).ToListAsync(cancellationToken);
    }

    /// <summary>Sets a customer's balance, creating the customer if needed.</summary>
    public async Task SeedCustomerAsync(string customerId, decimal balance, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentsDb>();
        var cents = decimal.ToInt64(decimal.Round(balance * 100m, MidpointRounding.AwayFromZero));
        var account = await db.Accounts.FirstOrDefaultAsync(a => a.CustomerId == customerId, cancellationToken);
        if (account is null)
        {
            db.Accounts.Add(new Account { CustomerId = customerId, BalanceCents = cents });
        }
        else
        {
            account.BalanceCents = cents;
        }

        await db.SaveChangesAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<Shipment>> GetShipmentsAsync(string orderId, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShippingDb>();
        return await db.Shipments.AsNoTracking().Where(s => s.OrderId == orderId).ToListAsync(cancellationToken);
    }
}
