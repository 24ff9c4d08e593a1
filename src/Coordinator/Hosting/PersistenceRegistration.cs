using Microsoft.Extensions.Options;
using Sagas.Coordinator.Definitions;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Hosting;

public static class PersistenceRegistration
{
    /// <summary>The store, the Engine's transactional shell and start-up (migrations, definitions).</summary>
    public static IHostApplicationBuilder AddSagasPersistence(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<SagasOptions>().BindConfiguration(SagasOptions.Section)
            .Validate(o => o.CommandBatchSize >= 1, "Sagas:CommandBatchSize must be 1 or more (1 sends every command alone)")
            .Validate(
                o => o.ParticipantCommandBatchSize.Values.All(size => size >= 1),
                "Sagas:ParticipantCommandBatchSize: every participant's size must be 1 or more (1 sends its commands alone)")
            .ValidateOnStart();
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section);
        services.AddSingleton(TimeProvider.System);
        services.AddSagaPayloads();
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            return new SagasDbFactory(options, ResolveConnectionString(builder, options), sp.GetRequiredService<PayloadCodec>().Cipher);
        });

        // Added, not tried: it must win over the participants' default store when they share this container.
        services.AddSingleton<IClaimStore>(sp =>
            PayloadRegistration.CreateStore(sp.GetRequiredService<IOptions<PayloadOptions>>().Value.ClaimCheck)
            ?? new CoordinatorClaimStore(sp.GetRequiredService<SagasDbFactory>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<SagaLocks>();
        services.AddSingleton<DefinitionRegistry>();
        services.AddSingleton(sp => new OutgoingPayloads(
            sp.GetRequiredService<PayloadCodec>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<PayloadOptions>>().Value.ClaimCheck.Store == ClaimStoreKind.S3 ? sp.GetRequiredService<IClaimStore>() : null));
        services.AddSingleton<TimerSignal>();
        services.AddSingleton<SagaProcessor>();
        services.AddSingleton<SagaReplayer>();
        services.AddSingleton<StartValidator>();

        // Registered before MassTransit so the schema and definitions exist before the first message.
        services.AddHostedService<StartupInitializer>();
        return builder;
    }

    private static string ResolveConnectionString(IHostApplicationBuilder builder, DatabaseOptions options)
    {
        var configured = builder.Configuration.GetConnectionString(DatabaseOptions.ConnectionStringName);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        return options.Provider == DatabaseProvider.Sqlite
            ? $"Data Source={Path.Combine(builder.Environment.ContentRootPath, "sagas.db")}"
            : throw new InvalidOperationException(
                $"ConnectionStrings:{DatabaseOptions.ConnectionStringName} is required for the {options.Provider} provider");
    }
}
