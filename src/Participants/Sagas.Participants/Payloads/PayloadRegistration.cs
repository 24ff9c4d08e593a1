using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Sagas.Participants.Payloads;

public static class PayloadRegistration
{
    /// <summary>
    /// Registers the <see cref="PayloadCodec"/> from <c>Sagas:Payloads</c> (off when the section is empty) and, when a
    /// connection string is configured, the claim store over the coordinator's database. Safe to call more than once.
    /// </summary>
    public static IServiceCollection AddSagaPayloads(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(PayloadCodec)))
        {
            // Binding twice would append the key list to itself.
            return services;
        }

        services.AddOptions<PayloadOptions>().Configure<IServiceProvider>((o, sp) => sp.GetService<IConfiguration>()?.GetSection(PayloadOptions.Section).Bind(o));
        services.TryAddSingleton<IClaimStore>(sp => CreateStore(sp.GetRequiredService<IOptions<PayloadOptions>>().Value.ClaimCheck) ?? new MissingClaimStore());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<PayloadOptions>>().Value;
            var cipher = PayloadCipher.FromOptions(options.Encryption);
            return cipher is null && options.ClaimCheck.ThresholdBytes == 0
                ? PayloadCodec.Off
                : new PayloadCodec(cipher, options.ClaimCheck.ThresholdBytes, sp.GetRequiredService<IClaimStore>);
        });
        return services;
    }

    /// <summary>The store the settings name, or null when they name none (the coordinator then uses its own database).</summary>
    public static IClaimStore? CreateStore(ClaimCheckOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Store == ClaimStoreKind.S3)
        {
            return new S3ClaimStore(options.S3);
        }

        return string.IsNullOrWhiteSpace(options.ConnectionString)
            ? null
            : new SqlClaimStore(options.Provider ?? "Postgres", options.ConnectionString);
    }
}
