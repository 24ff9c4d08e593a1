using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;

namespace Sagas.Tests.Unit.Payloads;

/// <summary>The coordinator's payload columns with a cipher: ciphertext in the file, plain JSON through the DbContext.</summary>
public sealed class EncryptedColumnsTests : IDisposable
{
    private const string Marker = "4111-1111-1111-1111";
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"sagas-enc-{Guid.NewGuid():N}.db");

    [Fact]
    public async Task SaveAndLoad_WithCipher_StoresCiphertextAndReadsPlaintext()
    {
        var cipher = PayloadCipherTests.Cipher(PayloadCipherTests.NewKey("k1"));
        var factory = new SagasDbFactory(new DatabaseOptions { Provider = DatabaseProvider.Sqlite }, $"Data Source={_path}", cipher);
        var id = Guid.NewGuid();
        var data = $$"""{"card":"{{Marker}}"}""";
        await using (var db = factory.Create())
        {
            await db.Database.MigrateAsync();
            db.Sagas.Add(new SagaInstance
            {
                Id = id,
                Definition = "order",
                Version = 1,
                Data = data,
                Signals = [new ReceivedSignal("approved", data, DateTimeOffset.UtcNow, "tester", false)],
                Deferred = [new DeferredReply("StepSucceeded", data, DateTimeOffset.UtcNow)],
            });
            db.Events.Add(new SagaEventRecord { SagaId = id, Version = 1, Kind = SagaEventCodec.StartKind, Json = data });
            await db.SaveChangesAsync();
        }

        var raw = await RawRowsAsync();
        await using var read = factory.Create();
        var saga = await read.Sagas.AsNoTracking().SingleAsync(s => s.Id == id);
        var evt = await read.Events.AsNoTracking().SingleAsync(e => e.SagaId == id);

        Assert.DoesNotContain(Marker, raw, StringComparison.Ordinal);
        Assert.Contains("$enc", raw, StringComparison.Ordinal);
        Assert.Equal(data, saga.Data);
        Assert.Equal(data, saga.Signals.Single().Payload);
        Assert.Equal(data, saga.Deferred.Single().Json);
        Assert.Equal(data, evt.Json);
    }

    [Fact]
    public async Task Load_RowsWrittenBeforeEncryption_StillReadable()
    {
        var plainFactory = new SagasDbFactory(new DatabaseOptions { Provider = DatabaseProvider.Sqlite }, $"Data Source={_path}");
        var id = Guid.NewGuid();
        await using (var db = plainFactory.Create())
        {
            await db.Database.MigrateAsync();
            db.Sagas.Add(new SagaInstance { Id = id, Definition = "order", Version = 1, Data = "{\"a\":1}" });
            await db.SaveChangesAsync();
        }

        var encrypted = new SagasDbFactory(new DatabaseOptions { Provider = DatabaseProvider.Sqlite }, $"Data Source={_path}", PayloadCipherTests.Cipher(PayloadCipherTests.NewKey("k1")));
        await using var read = encrypted.Create();

        Assert.Equal("{\"a\":1}", (await read.Sagas.AsNoTracking().SingleAsync(s => s.Id == id)).Data);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        File.Delete(_path);
    }

    private async Task<string> RawRowsAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={_path}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT Data || Signals || Deferred FROM sagas UNION ALL SELECT Json FROM saga_events";
        var text = new System.Text.StringBuilder();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            text.Append(reader.GetString(0));
        }

        return text.ToString();
    }
}
