using MassTransit;

namespace Sagas.Bench.Throughput.Peers.Courier;

public sealed record StepArguments(Guid SagaId);

public sealed record StepLog(Guid SagaId);

/// <summary>A routing-slip activity that does the step's write and undoes it on compensation.</summary>
public abstract class StepActivity(StepWriter writer, string step) : IActivity<StepArguments, StepLog>
{
    public async Task<ExecutionResult> Execute(ExecuteContext<StepArguments> context)
    {
        await writer.WriteAsync(context.Arguments.SagaId, step, context.CancellationToken);
        return context.Completed(new StepLog(context.Arguments.SagaId));
    }

    public async Task<CompensationResult> Compensate(CompensateContext<StepLog> context)
    {
        await writer.UndoAsync(context.Log.SagaId, step, context.CancellationToken);
        return context.Compensated();
    }
}

public sealed class ReserveStockActivity(StepWriter writer) : StepActivity(writer, "reserve-stock");

public sealed class ChargePaymentActivity(StepWriter writer) : StepActivity(writer, "charge-payment");

public sealed class BookShipmentActivity(StepWriter writer) : StepActivity(writer, "book-shipment");
