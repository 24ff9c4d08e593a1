using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Sagas.Coordinator.Persistence;

namespace Sagas.Tests.Unit.Persistence;

/// <summary>
/// Offline checks for the server providers we cannot run here: the DDL EF generates (no connection is
/// opened) and that the migrations match the model. SQLite is checked for real, in memory.
/// </summary>
public class ProviderSqlTests
{
    public static TheoryData<string> ServerProviders => new() { "SqlServer", "Postgres" };

    public static TheoryData<string> AllProviders => new() { "SqlServer", "Postgres", "Sqlite" };

    private static readonly string[] ProviderNames = ["SqlServer", "Postgres", "Sqlite"];

    private static readonly string[] Tables = ["sagas", "saga_history", "inbox", "outbox", "definitions"];

    [Theory]
    [MemberData(nameof(ServerProviders))]
    public void GenerateCreateScript_ServerProvider_CreatesEveryTableAndHistoryKey(string provider)
    {
        using var db = Create(provider);

        var script = db.Database.GenerateCreateScript();

        AssertSchema(script);
    }

    [Theory]
    [MemberData(nameof(ServerProviders))]
    public void MigrationsScript_ServerProvider_CreatesEveryTableAndHistoryKey(string provider)
    {
        using var db = Create(provider);

        var script = db.GetService<IMigrator>().GenerateScript(options: MigrationsSqlGenerationOptions.Idempotent);

        AssertSchema(script);
        Assert.Contains("__EFMigrationsHistory", script, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllProviders))]
    public void Migrations_EveryProvider_HaveNoPendingModelChanges(string provider)
    {
        using var db = Create(provider);

        Assert.NotEmpty(db.Database.GetMigrations());
        Assert.False(db.Database.HasPendingModelChanges(), $"{provider}: the model differs from the last migration's snapshot; add a migration");
    }

    [Theory]
    [MemberData(nameof(AllProviders))]
    public void Migrations_EveryProvider_BelongOnlyToThatProvider(string provider)
    {
        using var db = Create(provider);

        var migrations = db.Database.GetMigrations().ToList();
        var others = ProviderNames.Where(p => p != provider).SelectMany(p =>
        {
            using var other = Create(p);
            return other.Database.GetMigrations().ToList();
        });

        Assert.Empty(migrations.Intersect(others));
    }

    [Fact]
    public void Migrate_SqliteInMemory_CreatesEveryTableAndHistoryKey()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        using var db = new SqliteSagasDbContext(new DbContextOptionsBuilder<SqliteSagasDbContext>().UseSqlite(connection).Options);

        db.Database.Migrate();

        var tables = Query(connection, "SELECT name FROM sqlite_master WHERE type = 'table'");
        Assert.Superset(new HashSet<string>(Tables, StringComparer.Ordinal), new HashSet<string>(tables, StringComparer.Ordinal));
        var tableSql = Query(connection, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'saga_history'");
        Assert.Contains(tableSql, sql => HistoryKey.IsMatch(sql));
        Assert.Empty(db.Database.GetPendingMigrations());
    }

    /// <summary>A saga's history has one entry per place: (SagaId, Sequence) is the table's primary key.</summary>
    private static readonly Regex HistoryKey = new(
        """CONSTRAINT [\["]?PK_saga_history[\]"]? PRIMARY KEY \([\["]?SagaId[\]"]?, [\["]?Sequence[\]"]?\)""",
        RegexOptions.CultureInvariant);

    private static void AssertSchema(string script)
    {
        foreach (var table in Tables)
        {
            Assert.Matches(new Regex($"""CREATE TABLE [\["]?{table}[\]"]? \(""", RegexOptions.CultureInvariant), script);
        }

        Assert.Matches(HistoryKey, script);
    }

    private static SagasDbContext Create(string provider) => provider switch
    {
        "SqlServer" => new SqlServerSagasDbContext(new DbContextOptionsBuilder<SqlServerSagasDbContext>()
            .UseSqlServer("Server=nowhere.invalid;Database=sagas;TrustServerCertificate=true").Options),
        "Postgres" => new PostgresSagasDbContext(new DbContextOptionsBuilder<PostgresSagasDbContext>()
            .UseNpgsql("Host=nowhere.invalid;Database=sagas").Options),
        "Sqlite" => new SqliteSagasDbContext(new DbContextOptionsBuilder<SqliteSagasDbContext>()
            .UseSqlite("Data Source=:memory:").Options),
        _ => throw new ArgumentOutOfRangeException(nameof(provider)),
    };

    private static List<string> Query(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }
}
