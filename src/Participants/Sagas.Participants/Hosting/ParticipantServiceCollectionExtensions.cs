using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Sagas.Participants.Payloads;

namespace Sagas.Participants;

public static class ParticipantServiceCollectionExtensions
{
    /// <summary>
    /// Registers a participant: its DbContext (with the barrier table), handlers, dispatcher and schema
    /// initializer. Call before <c>AddMassTransit</c>, whose configurator then calls <see cref="AddSagaParticipants"/>.
    /// <paramref name="configureDb"/> runs once, with the root service provider: the DbContext options are shared by
    /// every message rather than rebuilt (and the connection string parsed again) for each one.
    /// </summary>
    /// <example><code>
    /// services.AddSagaParticipant&lt;InventoryDb&gt;("inventory", (sp, db) =&gt; db.UseSagasSqlite("inventory.db"), p =&gt; p.AddHandler&lt;ReserveStockHandler&gt;());
    /// services.AddMassTransit(x =&gt; { x.AddSagaParticipants(); x.UseSagasTransport(options); });
    /// </code></example>
    public static IServiceCollection AddSagaParticipant<TDb>(
        this IServiceCollection services,
        string name,
        Action<IServiceProvider, DbContextOptionsBuilder> configureDb,
        Action<ParticipantBuilder<TDb>> configure)
        where TDb : ParticipantDbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configureDb);
        ArgumentNullException.ThrowIfNull(configure);
        if (services.Any(d => d.ImplementationInstance is ParticipantDescriptor p && (p.DbContextType == typeof(TDb) || p.Name == name)))
        {
            throw new InvalidOperationException($"Participant '{name}' ({typeof(TDb).Name}) is registered twice; each participant needs its own name and DbContext type.");
        }

        // The options are built once (singleton), not for every message's scope: configureDb runs with the root provider.
        // A context that takes nothing but its options is pooled: a message then reuses one (EF resets it) instead of
        // building a new context and its services, a tenth of the participant's CPU per command when measured.
        // The barrier's last save can carry its commit (PostgreSQL; the interceptor does nothing unless the barrier asks).
        void ConfigureDb(IServiceProvider provider, DbContextOptionsBuilder db)
        {
            configureDb(provider, db);
            db.AddInterceptors(CommitWithSave.Instance);
        }

        if (IsPoolable(typeof(TDb)))
        {
            services.AddDbContextPool<TDb>(ConfigureDb);
        }
        else
        {
            services.AddDbContext<TDb>(ConfigureDb, ServiceLifetime.Scoped, ServiceLifetime.Singleton);
        }

        services.AddOptions<ParticipantFaultOptions>().Configure<IServiceProvider>((o, sp) => BindIfConfigured(sp, ParticipantFaultOptions.Section, o));
        services.TryAddSingleton<IParticipantFaults>(ParticipantFaultOptions.Create);
        services.AddOptions<ParticipantReplyOptions>().Configure<IServiceProvider>((o, sp) => BindIfConfigured(sp, ParticipantReplyOptions.Section, o))
            .Validate(o => o.HandOnAfter > TimeSpan.Zero, "Sagas:Participants:Reply:HandOnAfter must be more than zero")
            .Validate(o => o.BatchWait >= TimeSpan.Zero && o.BatchWait <= ParticipantReplyOptions.MaxBatchWait, "Sagas:Participants:Reply:BatchWait must be between 0 and 00:00:01")
            .ValidateOnStart();
        services.AddOptions<ParticipantBatchOptions>().Configure<IServiceProvider>((o, sp) => BindIfConfigured(sp, ParticipantBatchOptions.Section, o))
            .Validate(o => o.MaxPerTransaction is >= 1 and <= ParticipantBatchOptions.MaxAllowed, "Sagas:Participants:Batch:MaxPerTransaction must be between 1 and 64")
            .ValidateOnStart();
        services.AddSagaPayloads();

        var builder = new ParticipantBuilder<TDb>(services, name);
        configure(builder);
        services.AddSingleton(builder.Build);
        services.AddSingleton<StepDispatcher<TDb>>();
        services.TryAddSingleton<IStepReplySender, BusStepReplySender>();
        services.TryAddSingleton<ReplyCoalescer>();
        services.AddSingleton<StepReporter<TDb>>();
        services.AddHostedService<ParticipantInitializer<TDb>>();
        services.AddSingleton(new ParticipantDescriptor(name, typeof(TDb), bus => bus.AddSagaParticipantConsumer<TDb>(name)));
        return services;
    }

    /// <summary>Adds a receive endpoint per participant registered so far, named after the participant.</summary>
    public static IBusRegistrationConfigurator AddSagaParticipants(this IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        var participants = bus.Select(d => d.ImplementationInstance).OfType<ParticipantDescriptor>().ToList();
        foreach (var participant in participants)
        {
            participant.AddConsumers(bus);
        }

        return bus;
    }

    /// <summary>Adds one participant's consumer on the queue <paramref name="name"/>.</summary>
    public static IBusRegistrationConfigurator AddSagaParticipantConsumer<TDb>(this IBusRegistrationConfigurator bus, string name)
        where TDb : ParticipantDbContext
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<StepConsumer<TDb>>().Endpoint(e =>
        {
            e.Name = name;

            // Commands are sent to queue:<participant>; binding exchanges for them would only duplicate deliveries.
            e.ConfigureConsumeTopology = false;
        });
        return bus;
    }

    /// <summary>EF can pool a context whose only public constructor takes its options and nothing else.</summary>
    private static bool IsPoolable(Type context)
    {
        var constructors = context.GetConstructors();
        return constructors.Length == 1
            && constructors[0].GetParameters() is [{ ParameterType: var parameter }]
            && typeof(DbContextOptions).IsAssignableFrom(parameter);
    }

    /// <summary>Binds a section when the host has configuration; a bare container (tests, tools) keeps the defaults.</summary>
    private static void BindIfConfigured(IServiceProvider services, string section, object options) =>
        services.GetService<IConfiguration>()?.GetSection(section).Bind(options);
}
