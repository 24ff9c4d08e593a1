using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Sagas.Coordinator.Persistence;

/// <summary>SQLite (embedded mode). SQLite cannot compare or order DateTimeOffset, so times are stored as sortable integers.</summary>
public sealed class SqliteSagasDbContext(DbContextOptions<SqliteSagasDbContext> options) : SagasDbContext(options, PayloadCipherExtension.Find(options))
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        ArgumentNullException.ThrowIfNull(configurationBuilder);
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
    }
}

public sealed class PostgresSagasDbContext(DbContextOptions<PostgresSagasDbContext> options) : SagasDbContext(options, PayloadCipherExtension.Find(options))
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);

        // Free room on each page of sagas, so that a transition's new row version fits beside the old one and the
        // update is HOT (no index entries written); pruning on later visits reclaims the old versions.
        modelBuilder.Entity<Engine.SagaInstance>().HasStorageParameter("fillfactor", 70);
    }
}

public sealed class SqlServerSagasDbContext(DbContextOptions<SqlServerSagasDbContext> options) : SagasDbContext(options, PayloadCipherExtension.Find(options));

/// <summary>Design-time factories so `dotnet ef migrations add` works per provider without a running host.</summary>
public sealed class SqliteDesignFactory : IDesignTimeDbContextFactory<SqliteSagasDbContext>
{
    public SqliteSagasDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteSagasDbContext>().UseSqlite("Data Source=design.db").Options);
}

public sealed class PostgresDesignFactory : IDesignTimeDbContextFactory<PostgresSagasDbContext>
{
    public PostgresSagasDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresSagasDbContext>().UseNpgsql("Host=localhost;Database=sagas").Options);
}

public sealed class SqlServerDesignFactory : IDesignTimeDbContextFactory<SqlServerSagasDbContext>
{
    public SqlServerSagasDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqlServerSagasDbContext>().UseSqlServer("Server=localhost;Database=sagas;TrustServerCertificate=true").Options);
}
