using Microsoft.EntityFrameworkCore;
using Sagas.Participants;

namespace Sagas.Samples.Inventory;

/// <summary><c>reserve</c> takes stock for the order; <c>release</c> puts it back.</summary>
public sealed class ReserveStockHandler : StepHandler<InventoryDb>
{
    public override string Action => "reserve";

    public override string? Compensation => "release";

    protected override async Task<StepResult> ExecuteAsync(StepContext context, InventoryDb db, CancellationToken cancellationToken)
    {
        if (!OrderData.TryRead(context.Data, out var order, out var error))
        {
            return StepResult.BusinessFailure(error);
        }

        if (order.Quantity <= 0 || order.Sku.Length == 0)
        {
            return StepResult.BusinessFailure($"invalid reservation: sku '{order.Sku}', quantity {order.Quantity}");
        }

        // One conditional UPDATE: concurrent reservations of the same SKU cannot oversell.
        var taken = await db.Stock
            .Where(s => s.Sku == order.Sku && s.Available >= order.Quantity)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.Available, x => x.Available - order.Quantity), cancellationToken);
        if (taken == 0)
        {
            var available = await db.Stock.Where(s => s.Sku == order.Sku).Select(s => (long?)s.Available).FirstOrDefaultAsync(cancellationToken);
            return StepResult.BusinessFailure(available is null
                ? $"out of stock: unknown sku {order.Sku}"
                : $"out of stock: sku {order.Sku} has {available} available, {order.Quantity} requested");
        }

        // Saved with the barrier row, in the same round trip: no SaveChanges needed.
        db.Reservations.Add(new Reservation { SagaId = context.SagaId, Step = context.Step, OrderId = order.OrderId, Sku = order.Sku, Quantity = order.Quantity });
        return StepResult.SucceededWith(new { sku = order.Sku, reserved = order.Quantity });
    }

    protected override async Task<CompensationResult> CompensateAsync(StepContext context, InventoryDb db, CancellationToken cancellationToken)
    {
        var reservation = await db.Reservations.FirstOrDefaultAsync(r => r.SagaId == context.SagaId && r.Step == context.Step, cancellationToken);
        if (reservation is null || reservation.Released)
        {
            return CompensationResult.Compensated;
        }

        await db.Stock
            .Where(s => s.Sku == reservation.Sku)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.Available, x => x.Available + reservation.Quantity), cancellationToken);
        reservation.Released = true;
        return CompensationResult.Compensated;
    }
}
