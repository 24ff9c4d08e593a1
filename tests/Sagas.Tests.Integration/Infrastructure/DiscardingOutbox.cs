using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>An outbox signal for processors driven directly by a test: nothing is sent, the rows stay in the table.</summary>
public sealed class DiscardingOutbox : IOutboxSignal
{
    public void Enqueue(IReadOnlyList<OutboxRecord> records)
    {
    }
}
