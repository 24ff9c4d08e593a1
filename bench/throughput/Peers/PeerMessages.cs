using Wolverine.Persistence.Sagas;

namespace Sagas.Bench.Throughput.Peers;

// The peers' order-fulfilment: one command and one reply per step, as ours sends. The saga id is the
// correlation for MassTransit and the [SagaIdentity] for Wolverine.
public sealed record StartOrder([property: SagaIdentity] Guid SagaId);

public sealed record ReserveStock([property: SagaIdentity] Guid SagaId);

public sealed record StockReserved([property: SagaIdentity] Guid SagaId);

public sealed record ChargePayment([property: SagaIdentity] Guid SagaId);

public sealed record PaymentCharged([property: SagaIdentity] Guid SagaId);

public sealed record BookShipment([property: SagaIdentity] Guid SagaId);

public sealed record ShipmentBooked([property: SagaIdentity] Guid SagaId);

/// <summary>The terminal message the driver times each saga by.</summary>
public sealed record OrderFinished(Guid SagaId, bool Completed);
