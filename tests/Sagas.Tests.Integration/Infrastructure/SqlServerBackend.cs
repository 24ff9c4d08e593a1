using Testcontainers.MsSql;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// SQL Server through Testcontainers, with the in-memory transport and SQLite participants: it proves the
/// coordinator's SQL Server store, which needs Docker (SQL Server cannot run on the development machines).
/// </summary>
public sealed class SqlServerBackend : SagaBackend
{
    private MsSqlContainer? _container;

    public override string Name => "SQL Server (Testcontainers) + in-memory transport";

    /// <summary>Docker is reachable when its socket exists or DOCKER_HOST names one.</summary>
    public static bool DockerAvailable =>
        File.Exists("/var/run/docker.sock") || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST"));

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        _container = new MsSqlBuilder("mcr.microsoft.com/mssql/server:2022-latest").Build();
        await _container.StartAsync();
        var data = Path.Combine(WorkDirectory, "data");
        Directory.CreateDirectory(data);
        return new Dictionary<string, string?>
        {
            ["Sagas:Mode"] = "Embedded",
            ["Sagas:Database:Provider"] = "SqlServer",
            ["ConnectionStrings:Sagas"] = _container.GetConnectionString(),
            ["Sagas:Transport:Kind"] = "InMemory",
            ["Samples:Provider"] = "Sqlite",
            ["Samples:Inventory"] = Path.Combine(data, "inventory.db"),
            ["Samples:Payments"] = Path.Combine(data, "payments.db"),
            ["Samples:Shipping"] = Path.Combine(data, "shipping.db"),
        };
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }
}
