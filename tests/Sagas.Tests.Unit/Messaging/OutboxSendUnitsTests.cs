using Sagas.Contracts;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;
using Xunit;

namespace Sagas.Tests.Unit.Messaging;

/// <summary>How ready outbox rows become broker messages: a participant's commands together, everything else alone.</summary>
public sealed class OutboxSendUnitsTests
{
    [Fact]
    public void SendUnits_CommandsForTwoQueuesAndAnEvent_OneBatchPerQueueEventAloneNothingLostOrDoubled()
    {
        var rows = new List<OutboxRecord>
        {
            Row(1, "inventory", nameof(ExecuteStep)),
            Row(2, "payments", nameof(ExecuteStep)),
            Row(3, null, nameof(SagaCompleted)),
            Row(4, "inventory", nameof(CompensateStep)),
            Row(5, "inventory", nameof(ExecuteStep)),
        };

        var units = OutboxDispatcher.SendUnits(rows, batchSize: 32).ToList();

        Assert.Equal([1L, 2, 3, 4, 5], units.SelectMany(u => u).Select(r => r.Id).Order());
        Assert.Contains(units, u => u.Select(r => r.Id).SequenceEqual([1L, 4, 5]));
        Assert.Contains(units, u => u.Select(r => r.Id).SequenceEqual([2L]));
        Assert.Contains(units, u => u.Select(r => r.Id).SequenceEqual([3L]));
        Assert.Equal(3, units.Count);
    }

    [Fact]
    public void SendUnits_MoreCommandsThanTheBatchSize_SplitIntoBatchesOfAtMostThatMany()
    {
        var rows = Enumerable.Range(1, 7).Select(i => Row(i, "shipping", nameof(ExecuteStep))).ToList();

        var units = OutboxDispatcher.SendUnits(rows, batchSize: 3).ToList();

        Assert.Equal([3, 3, 1], units.Select(u => u.Count));
        Assert.Equal(Enumerable.Range(1, 7).Select(i => (long)i), units.SelectMany(u => u).Select(r => r.Id));
    }

    [Fact]
    public void SendUnits_BatchSizeOne_EveryRowAlone()
    {
        var rows = Enumerable.Range(1, 4).Select(i => Row(i, "inventory", nameof(ExecuteStep))).ToList();

        var units = OutboxDispatcher.SendUnits(rows, batchSize: 1).ToList();

        Assert.Equal(4, units.Count);
        Assert.All(units, u => Assert.Single(u));
    }

    [Fact]
    public void SendUnits_OneParticipantAtSizeOne_ItsCommandsAloneTheOthersStillBatched()
    {
        var rows = new List<OutboxRecord>
        {
            Row(1, "inventory", nameof(ExecuteStep)),
            Row(2, "payments", nameof(ExecuteStep)),
            Row(3, "inventory", nameof(ExecuteStep)),
            Row(4, "payments", nameof(CompensateStep)),
            Row(5, "shipping", nameof(ExecuteStep)),
            Row(6, "shipping", nameof(ExecuteStep)),
            Row(7, "shipping", nameof(ExecuteStep)),
        };
        var sizes = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase) { ["payments"] = 1, ["shipping"] = 2 };

        var units = OutboxDispatcher.SendUnits(rows, batchSize: 32, sizes).Select(u => u.Select(r => r.Id).ToArray()).ToList();

        Assert.Equal([1L, 2, 3, 4, 5, 6, 7], units.SelectMany(u => u).Order());
        Assert.Contains([2L], units);
        Assert.Contains([4L], units);
        Assert.Contains([1L, 3], units);
        Assert.Contains([5L, 6], units);
        Assert.Contains([7L], units);
        Assert.Equal(5, units.Count);
    }

    private static OutboxRecord Row(long id, string? queue, string type) =>
        new() { Id = id, MessageId = Guid.NewGuid(), SagaId = Guid.NewGuid(), Queue = queue, MessageType = type };
}
