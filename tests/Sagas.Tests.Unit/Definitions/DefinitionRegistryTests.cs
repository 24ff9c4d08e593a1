using Microsoft.EntityFrameworkCore;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Persistence;

namespace Sagas.Tests.Unit.Definitions;

/// <summary>
/// Two registries on one SQLite file stand for two coordinator instances on one database: a start without a version
/// takes the newest from memory, a version registered through the same instance counts at once, one registered
/// through the other instance within <see cref="DefinitionRegistry.NewestFreshFor"/>.
/// </summary>
public sealed class DefinitionRegistryTests : IAsyncLifetime
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"sagas-registry-{Guid.NewGuid():N}.db");
    private readonly ManualClock _clock = new();
    private SagasDbFactory _factory = null!;

    public async Task InitializeAsync()
    {
        _factory = new SagasDbFactory(new DatabaseOptions { Provider = DatabaseProvider.Sqlite }, $"Data Source={_file};Pooling=false");
        await using var db = _factory.Create();
        await db.Database.MigrateAsync();
    }

    public Task DisposeAsync()
    {
        File.Delete(_file);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task FindNewest_VersionRegisteredThroughThisInstance_IsUsedAtOnce()
    {
        var registry = new DefinitionRegistry(_factory, _clock);
        await registry.RegisterAsync(Order(1), CancellationToken.None);
        Assert.Equal(1, (await registry.FindAsync("order", null, CancellationToken.None))!.Version);

        await registry.RegisterAsync(Order(2), CancellationToken.None);

        Assert.Equal(2, (await registry.FindAsync("order", null, CancellationToken.None))!.Version);
    }

    [Fact]
    public async Task FindNewest_VersionRegisteredThroughAnotherInstance_IsUsedOnceTheCachedAnswerIsOld()
    {
        var first = new DefinitionRegistry(_factory, _clock);
        var second = new DefinitionRegistry(_factory, _clock);
        await first.RegisterAsync(Order(1), CancellationToken.None);
        Assert.Equal(1, (await second.FindAsync("order", null, CancellationToken.None))!.Version);

        await first.RegisterAsync(Order(2), CancellationToken.None);
        var meanwhile = await second.FindAsync("order", null, CancellationToken.None);
        _clock.Advance(DefinitionRegistry.NewestFreshFor);
        var later = await second.FindAsync("order", null, CancellationToken.None);

        Assert.Equal(1, meanwhile!.Version);
        Assert.Equal(2, later!.Version);
    }

    [Fact]
    public async Task FindNewest_RepeatedWithinTheFreshTime_DoesNotReadTheDatabase()
    {
        var registry = new DefinitionRegistry(_factory, _clock);
        await registry.RegisterAsync(Order(1), CancellationToken.None);
        var found = await registry.FindAsync("order", null, CancellationToken.None);

        // With the table gone, only memory can answer.
        await using (var db = _factory.Create())
        {
            await db.Definitions.ExecuteDeleteAsync();
        }

        Assert.Same(found, await registry.FindAsync("order", null, CancellationToken.None));
        _clock.Advance(DefinitionRegistry.NewestFreshFor);
        Assert.Null(await registry.FindAsync("order", null, CancellationToken.None));
    }

    private static SagaDefinition Order(int version) => SagaDefinitionBuilder.Create("order", version)
        .Step("reserve-stock", s => s.On("inventory").Action("reserve").Compensation("release").Timeout(TimeSpan.FromSeconds(version)))
        .Build();

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
