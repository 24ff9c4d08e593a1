using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sagas.Participants;
using Sagas.Participants.Transport;

namespace Sagas.Samples.Host;

public static class SampleHostExtensions
{
    public const string ServiceKey = "service";
    public const string ProviderKey = "Samples:Provider";
    public const string CountriesKey = "Samples:Shipping:Countries";
    public const string DefaultSqliteDirectory = ".data/samples";

    /// <summary>Hosts the sample participant(s) chosen by <c>--service</c> on the configured broker and databases.</summary>
    public static HostApplicationBuilder AddSampleParticipantsHost(this HostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var samples = ReadSamplesOptions(configuration);
        var transport = configuration.GetSection(TransportOptions.Section).Get<TransportOptions>() ?? new TransportOptions();

        // Per-statement SQL logs drown the bus's own messages at Information.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore.Database.Command", LogLevel.Warning);
        builder.Services.AddSampleParticipants(samples);
        builder.Services.AddMassTransit(bus =>
        {
            bus.AddSagaParticipants();
            bus.UseSagasTransport(transport);
        });

        // The bus keeps reconnecting to the broker in the background rather than failing start-up.
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = false);
        return builder;
    }

    public static SamplesOptions ReadSamplesOptions(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var provider = Enum.Parse<SampleProvider>(configuration[ProviderKey] ?? nameof(SampleProvider.Sqlite), ignoreCase: true);
        var options = provider == SampleProvider.Sqlite ? SamplesOptions.ForSqlite(DefaultSqliteDirectory) : new SamplesOptions { Provider = provider };
        options.Inventory = configuration.GetConnectionString("Inventory") ?? options.Inventory;
        options.Payments = configuration.GetConnectionString("Payments") ?? options.Payments;
        options.Shipping = configuration.GetConnectionString("Shipping") ?? options.Shipping;

        foreach (var country in ReadList(configuration, CountriesKey))
        {
            options.ShippingCountries.Add(country);
        }

        var service = configuration[ServiceKey] ?? "all";
        if (!string.Equals(service, "all", StringComparison.OrdinalIgnoreCase))
        {
            options.Services.Clear();
            foreach (var name in service.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                options.Services.Add(name.ToLowerInvariant());
            }
        }

        return options;
    }

    /// <summary>Accepts both <c>NL,BE</c> (one environment variable) and an indexed array section.</summary>
    private static IEnumerable<string> ReadList(IConfiguration configuration, string key)
    {
        var section = configuration.GetSection(key);
        var values = section.Value is { } flat
            ? flat.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : section.GetChildren().Select(c => c.Value).OfType<string>();
        return values.Select(v => v.ToUpperInvariant());
    }
}
