using Npgsql;

namespace Sagas.Samples;

public enum SampleProvider
{
    Sqlite,
    Postgres,
}

/// <summary>The sample participants' names, which are also their queues.</summary>
public static class SampleServices
{
    public const string Inventory = "inventory";
    public const string Payments = "payments";
    public const string Shipping = "shipping";

    public static readonly IReadOnlyList<string> All = [Inventory, Payments, Shipping];
}

/// <summary>Where the three sample services keep their state: one SQLite file or one PostgreSQL database each.</summary>
public sealed class SamplesOptions
{
    public const string Section = "Samples";

    public SampleProvider Provider { get; set; } = SampleProvider.Sqlite;

    /// <summary>SQLite file path or PostgreSQL connection string per service.</summary>
    public string Inventory { get; set; } = "";

    public string Payments { get; set; } = "";

    public string Shipping { get; set; } = "";

    /// <summary>Destinations served by shipping; empty means the default list. AQ is never served.</summary>
    public IList<string> ShippingCountries { get; } = [];

    /// <summary>Which services this process hosts; defaults to all three.</summary>
    public IList<string> Services { get; } = [.. SampleServices.All];

    public static SamplesOptions ForSqlite(string directory) => new()
    {
        Provider = SampleProvider.Sqlite,
        Inventory = Path.Combine(directory, "inventory.db"),
        Payments = Path.Combine(directory, "payments.db"),
        Shipping = Path.Combine(directory, "shipping.db"),
    };

    /// <summary>Each service gets its own database on the server of <paramref name="baseConnectionString"/>, created if missing.</summary>
    public static SamplesOptions ForPostgres(string baseConnectionString, string databasePrefix = "sagas_") => new()
    {
        Provider = SampleProvider.Postgres,
        Inventory = WithDatabase(baseConnectionString, databasePrefix + SampleServices.Inventory),
        Payments = WithDatabase(baseConnectionString, databasePrefix + SampleServices.Payments),
        Shipping = WithDatabase(baseConnectionString, databasePrefix + SampleServices.Shipping),
    };

    public static string WithDatabase(string connectionString, string database) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Database = database }.ConnectionString;
}
