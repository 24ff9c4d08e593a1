using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Participants;

namespace Sagas.Samples.Shipping;

/// <summary><c>book</c> books a shipment to the order's country; <c>cancel</c> cancels it.</summary>
public sealed class BookShipmentHandler(IOptions<ShippingOptions> options) : StepHandler<ShippingDb>
{
    public override string Action => "book";

    public override string? Compensation => "cancel";

    protected override Task<StepResult> ExecuteAsync(StepContext context, ShippingDb db, CancellationToken cancellationToken)
    {
        if (!OrderData.TryRead(context.Data, out var order, out var error))
        {
            return Task.FromResult(StepResult.BusinessFailure(error));
        }

        if (!options.Value.Serves(order.Country))
        {
            return Task.FromResult(StepResult.BusinessFailure($"shipping refused: destination '{order.Country}' is not served"));
        }

        // Saved with the barrier row, in the same round trip: no SaveChanges needed.
        db.Shipments.Add(new Shipment { SagaId = context.SagaId, Step = context.Step, OrderId = order.OrderId, Country = order.Country });
        return Task.FromResult(StepResult.SucceededWith(new { shipmentId = $"{context.SagaId:N}-{context.Step}", country = order.Country }));
    }

    protected override async Task<CompensationResult> CompensateAsync(StepContext context, ShippingDb db, CancellationToken cancellationToken)
    {
        var (sagaId, step) = (context.SagaId, context.Step);
        var shipment = await db.Shipments.FirstOrDefaultAsync(s => s.SagaId == sagaId && s.Step == step, cancellationToken);
        if (shipment is not null && !shipment.Cancelled)
        {
            shipment.Cancelled = true;
        }

        return CompensationResult.Compensated;
    }
}
