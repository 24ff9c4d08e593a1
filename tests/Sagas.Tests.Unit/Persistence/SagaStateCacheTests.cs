using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;
using Xunit;

namespace Sagas.Tests.Unit.Persistence;

public sealed class SagaStateCacheTests
{
    private readonly ManualClock _clock = new();

    [Fact]
    public void Find_ReturnsACopyOfWhatWasCommitted_NotTheCommittedObject()
    {
        var cache = new SagaStateCache(10, _clock);
        var saga = Running();
        cache.Remember(saga);
        saga.Data = """{"changed":"after the commit"}""";
        saga.Steps[0].Attempts = 7;

        var copy = cache.Find(saga.Id)!;
        Assert.Equal(("""{"n":1}""", 1, 3), (copy.Data, copy.Steps[0].Attempts, copy.ConcurrencyVersion));

        // Changing the copy (as a transition does) leaves the cached state as it was.
        copy.Steps[0].Attempts = 9;
        copy.ConcurrencyVersion = 4;
        Assert.Equal((1, 3), (cache.Find(saga.Id)!.Steps[0].Attempts, cache.Find(saga.Id)!.ConcurrencyVersion));
    }

    [Fact]
    public void Remember_FinishedSaga_DropsIt()
    {
        var cache = new SagaStateCache(10, _clock);
        var saga = Running();
        cache.Remember(saga);
        saga.State = SagaState.Completed;
        cache.Remember(saga);
        Assert.Null(cache.Find(saga.Id));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Remember_WhenFull_UpdatesHeldSagasAndStartsOverForANewOne()
    {
        var cache = new SagaStateCache(2, _clock);
        var (a, b, c) = (Running(), Running(), Running());
        cache.Remember(a);
        cache.Remember(b);
        a.ConcurrencyVersion = 5;
        cache.Remember(a);
        Assert.Equal(5, cache.Find(a.Id)!.ConcurrencyVersion);
        Assert.Equal(2, cache.Count);

        cache.Remember(c);
        Assert.Equal(1, cache.Count);
        Assert.NotNull(cache.Find(c.Id));
        Assert.Null(cache.Find(a.Id));
        Assert.Null(cache.Find(b.Id));
    }

    [Fact]
    public void Stale_EmptiesTheCacheAndPausesItForAWhile()
    {
        var cache = new SagaStateCache(10, _clock);
        var (a, b) = (Running(), Running());
        cache.Remember(a);
        cache.Stale();
        Assert.Null(cache.Find(a.Id));
        Assert.Equal(0, cache.Count);

        cache.Remember(b);
        Assert.Null(cache.Find(b.Id));

        _clock.Now += SagaStateCache.PauseAfterStale;
        cache.Remember(b);
        Assert.NotNull(cache.Find(b.Id));
    }

    [Fact]
    public void ZeroCapacity_HoldsNothing()
    {
        var cache = new SagaStateCache(0, _clock);
        var saga = Running();
        cache.Remember(saga);
        Assert.False(cache.Enabled);
        Assert.Null(cache.Find(saga.Id));
    }

    private static SagaInstance Running() => new()
    {
        Id = Guid.NewGuid(),
        Definition = "order-fulfilment",
        Version = 1,
        State = SagaState.Running,
        Data = """{"n":1}""",
        Steps = [new StepState { Name = "reserve", Status = StepStatus.Running, Attempts = 1 }],
        ConcurrencyVersion = 3,
    };

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
