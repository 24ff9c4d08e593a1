using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// A participant's DbContext is pooled when EF can pool it (its only constructor takes its options), so a message reuses
/// a context instead of building one; a context with other constructor dependencies still works, unpooled.
/// </summary>
public sealed class ContextPoolingTests : IDisposable
{
    private readonly List<string> _files = [];

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in _files)
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task OptionsOnlyContext_IsReusedAcrossMessageScopes()
    {
        await using var provider = Build<ProbeDb>();

        var first = await UseInScopeAsync<ProbeDb>(provider);
        var second = await UseInScopeAsync<ProbeDb>(provider);

        Assert.Same(first, second);
    }

    [Fact]
    public async Task ContextWithOtherDependencies_IsCreatedPerScopeAndWorks()
    {
        await using var provider = Build<ClockedDb>(services => services.AddSingleton(TimeProvider.System));

        var first = await UseInScopeAsync<ClockedDb>(provider);
        var second = await UseInScopeAsync<ClockedDb>(provider);

        Assert.NotSame(first, second);
        Assert.Same(TimeProvider.System, second.Clock);
    }

    private ServiceProvider Build<TDb>(Action<IServiceCollection>? extra = null)
        where TDb : ParticipantDbContext
    {
        var path = Path.Combine(Path.GetTempPath(), $"sagas-pool-{Guid.NewGuid():N}.db");
        _files.Add(path);
        var services = new ServiceCollection().AddLogging();
        extra?.Invoke(services);
        services.AddSagaParticipant<TDb>("pool-" + typeof(TDb).Name, (_, db) => db.UseSagasSqlite(path), _ => { });
        return services.BuildServiceProvider();
    }

    /// <summary>Resolves the context in its own scope, as a consumed message does, and makes it open a connection.</summary>
    private static async Task<TDb> UseInScopeAsync<TDb>(IServiceProvider provider)
        where TDb : ParticipantDbContext
    {
        await using var scope = provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDb>();
        await db.Database.EnsureCreatedAsync();
        Assert.Equal(0, await db.Barrier.CountAsync());
        return db;
    }

    public sealed class ClockedDb(DbContextOptions<ClockedDb> options, TimeProvider clock) : ParticipantDbContext(options)
    {
        public TimeProvider Clock { get; } = clock;
    }
}
