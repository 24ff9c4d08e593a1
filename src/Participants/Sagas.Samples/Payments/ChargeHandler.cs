using Microsoft.EntityFrameworkCore;
using Sagas.Participants;

namespace Sagas.Samples.Payments;

/// <summary><c>charge</c> debits the customer's balance; <c>refund</c> credits it back.</summary>
public sealed class ChargeHandler : StepHandler<PaymentsDb>
{
    public override string Action => "charge";

    public override string? Compensation => "refund";

    protected override async Task<StepResult> ExecuteAsync(StepContext context, PaymentsDb db, CancellationToken cancellationToken)
    {
        if (!OrderData.TryRead(context.Data, out var order, out var error))
        {
            return StepResult.BusinessFailure(error);
        }

        var amount = order.AmountCents;
        if (amount <= 0)
        {
            return StepResult.BusinessFailure($"payment declined: invalid amount {order.Amount}");
        }

        // Plain locals in the query (see ReserveStockHandler).
        var customer = order.CustomerId;
        var debited = await db.Accounts
            .Where(a => a.CustomerId == customer && a.BalanceCents >= amount)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.BalanceCents, x => x.BalanceCents - amount), cancellationToken);
        if (debited == 0)
        {
            var balance = await db.Accounts.Where(a => a.CustomerId == customer).Select(a => (long?)a.BalanceCents).FirstOrDefaultAsync(cancellationToken);
            return StepResult.BusinessFailure(balance is null
                ? $"payment declined: customer {order.CustomerId} is unknown"
                : $"payment declined: customer {order.CustomerId} has balance {OrderData.Money(balance.Value)}, charge is {OrderData.Money(amount)}");
        }

        // Saved with the barrier row, in the same round trip: no SaveChanges needed.
        db.Charges.Add(new Charge { SagaId = context.SagaId, Step = context.Step, OrderId = order.OrderId, CustomerId = order.CustomerId, AmountCents = amount });
        return StepResult.SucceededWith(new { customerId = order.CustomerId, charged = order.Amount });
    }

    protected override async Task<CompensationResult> CompensateAsync(StepContext context, PaymentsDb db, CancellationToken cancellationToken)
    {
        var (sagaId, step) = (context.SagaId, context.Step);
        var charge = await db.Charges.FirstOrDefaultAsync(c => c.SagaId == sagaId && c.Step == step, cancellationToken);
        if (charge is null || charge.Refunded)
        {
            return CompensationResult.Compensated;
        }

        var (customer, cents) = (charge.CustomerId, charge.AmountCents);
        await db.Accounts
            .Where(a => a.CustomerId == customer)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.BalanceCents, x => x.BalanceCents + cents), cancellationToken);
        charge.Refunded = true;
        return CompensationResult.Compensated;
    }
}
