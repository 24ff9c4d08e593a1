using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Persistence;
using Sagas.Participants.Payloads;

namespace Sagas.Tests.Unit.Payloads;

/// <summary>A participant's plain-SQL claim store against the coordinator's own (migrated) SQLite schema.</summary>
public sealed class SqlClaimStoreTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"sagas-claims-{Guid.NewGuid():N}.db");

    [Fact]
    public async Task Write_ThenRead_RoundTripsAndTheCoordinatorSeesTheSagaId()
    {
        var factory = new SagasDbFactory(new DatabaseOptions { Provider = DatabaseProvider.Sqlite }, $"Data Source={_path}");
        await using (var db = factory.Create())
        {
            await db.Database.MigrateAsync();
        }

        var store = new SqlClaimStore("Sqlite", $"Data Source={_path}");
        var sagaId = Guid.NewGuid();
        var claim = PayloadClaim.For(sagaId, "{\"big\":\"" + new string('x', 5000) + "\"}");

        await store.WriteAsync(claim, default);
        await store.WriteAsync(claim, default);

        Assert.Equal(claim.Body, await store.ReadAsync(claim.Id, default));
        Assert.Null(await store.ReadAsync("missing", default));
        await using var check = factory.Create();
        var row = await check.Claims.AsNoTracking().SingleAsync(c => c.SagaId == sagaId);
        Assert.Equal(claim.Id, row.Id);
        Assert.Equal(claim.Body, await new CoordinatorClaimStore(factory, TimeProvider.System).ReadAsync(claim.Id, default));
    }

    [Fact]
    public void Create_UnknownProvider_ThrowsNamingTheSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new SqlClaimStore("Oracle", "x"));

        Assert.Contains("ClaimCheck:Provider", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        File.Delete(_path);
    }
}
