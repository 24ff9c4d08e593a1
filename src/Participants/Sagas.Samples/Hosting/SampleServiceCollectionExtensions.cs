using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Participants;
using Sagas.Samples.Inventory;
using Sagas.Samples.Payments;
using Sagas.Samples.Shipping;

namespace Sagas.Samples;

public static class SampleServiceCollectionExtensions
{
    /// <summary>
    /// Registers the sample participants chosen in <see cref="SamplesOptions.Services"/> and <see cref="SampleLedger"/>.
    /// Call before <c>AddMassTransit</c>; its configurator then calls <c>AddSagaParticipants()</c>.
    /// </summary>
    public static IServiceCollection AddSampleParticipants(this IServiceCollection services, SamplesOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        var unknown = options.Services.Except(SampleServices.All, StringComparer.OrdinalIgnoreCase).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"Unknown sample service(s) {string.Join(", ", unknown)}; expected {string.Join(", ", SampleServices.All)}.", nameof(options));
        }

        if (Hosts(options, SampleServices.Inventory))
        {
            services.AddSagaParticipant<InventoryDb>(SampleServices.Inventory, (_, db) => UseProvider(db, options, options.Inventory), p => p.AddHandler<ReserveStockHandler>());
        }

        if (Hosts(options, SampleServices.Payments))
        {
            services.AddSagaParticipant<PaymentsDb>(SampleServices.Payments, (_, db) => UseProvider(db, options, options.Payments), p => p.AddHandler<ChargeHandler>());
        }

        if (Hosts(options, SampleServices.Shipping))
        {
            services.AddOptions<ShippingOptions>().Configure(o =>
            {
                foreach (var country in options.ShippingCountries)
                {
                    o.Countries.Add(country);
                }
            });
            services.AddSagaParticipant<ShippingDb>(SampleServices.Shipping, (_, db) => UseProvider(db, options, options.Shipping), p => p.AddHandler<BookShipmentHandler>());
        }

        services.AddSingleton<SampleLedger>();
        return services;
    }

    private static bool Hosts(SamplesOptions options, string service) => options.Services.Contains(service, StringComparer.OrdinalIgnoreCase);

    private static void UseProvider(DbContextOptionsBuilder db, SamplesOptions options, string target)
    {
        if (string.IsNullOrWhiteSpace(target))
        {
            throw new InvalidOperationException("A sample service has no database configured (SQLite path or PostgreSQL connection string).");
        }

        switch (options.Provider)
        {
            case SampleProvider.Sqlite:
                db.UseSagasSqlite(target);
                break;
            case SampleProvider.Postgres:
                db.UseSagasPostgres(target);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Provider, "Samples:Provider must be Sqlite or Postgres");
        }
    }
}
