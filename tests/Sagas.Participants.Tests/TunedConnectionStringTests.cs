using Npgsql;
using Sagas.Samples;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// The PostgreSQL connection settings the coordinator and the participants use: statements seen twice are prepared
/// (the server stops parsing and planning them, most of its CPU under load), sessions are not reset, and a setting
/// the connection string gives explicitly wins.
/// </summary>
public sealed class TunedConnectionStringTests
{
    [Fact]
    public void Defaults_PrepareRepeatedStatementsAndSkipSessionReset()
    {
        var tuned = new NpgsqlConnectionStringBuilder(ParticipantDatabase.TunedConnectionString("Host=db;Database=sagas;Username=u"));

        Assert.True(tuned.MaxAutoPrepare > 0);
        Assert.Equal(2, tuned.AutoPrepareMinUsages);
        Assert.True(tuned.NoResetOnClose);
        Assert.Equal("db", tuned.Host);
        Assert.Equal("sagas", tuned.Database);
    }

    [Theory]
    [InlineData("Host=db;Max Auto Prepare=0;No Reset On Close=false")]
    [InlineData("Host=db;MaxAutoPrepare=0;NoResetOnClose=false")]
    public void ExplicitSettings_AreKept(string connectionString)
    {
        var tuned = new NpgsqlConnectionStringBuilder(ParticipantDatabase.TunedConnectionString(connectionString));

        Assert.Equal(0, tuned.MaxAutoPrepare);
        Assert.False(tuned.NoResetOnClose);
    }

    [SkippableFact]
    public async Task RepeatedStatement_IsPreparedOnTheServer()
    {
        var server = Environment.GetEnvironmentVariable(ParticipantFixture.PostgresVariable);
        Skip.If(string.IsNullOrWhiteSpace(server), ParticipantFixture.PostgresVariable + " not set");
        var database = SamplesOptions.WithDatabase(server, "postgres");

        Assert.Equal(1, await PreparedAfterRepeatsAsync(ParticipantDatabase.TunedConnectionString(database)));
        Assert.Equal(0, await PreparedAfterRepeatsAsync(ParticipantDatabase.TunedConnectionString(database + ";Max Auto Prepare=0")));
    }

    /// <summary>Runs one parameterised statement three times on a fresh physical connection; how many statements the server then holds prepared.</summary>
    private static async Task<long> PreparedAfterRepeatsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        for (var i = 0; i < 3; i++)
        {
            await using var command = new NpgsqlCommand("SELECT $1::int + 1", connection) { Parameters = { new() { Value = i } } };
            Assert.Equal(i + 1, await command.ExecuteScalarAsync());
        }

        await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + 1%'", connection);
        return (long)(await count.ExecuteScalarAsync())!;
    }
}
