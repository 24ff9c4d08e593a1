using MassTransit;
using Sagas.Participants;
using Sagas.Samples;

namespace Sagas.Coordinator.Hosting;

/// <summary>Embedded mode hosts the three demo participants in the coordinator's process, each with its own SQLite file.</summary>
public static class EmbeddedParticipants
{
    public static IHostApplicationBuilder AddEmbeddedSampleParticipants(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection(SamplesOptions.Section);
        var options = SamplesOptions.ForSqlite(Path.Combine(builder.Environment.ContentRootPath, "data"));
        section.Bind(options);
        if (options.Provider == SampleProvider.Sqlite)
        {
            foreach (var file in new[] { options.Inventory, options.Payments, options.Shipping })
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
            }
        }

        builder.Services.AddSampleParticipants(options);
        return builder;
    }

    public static void AddEmbeddedSampleConsumers(this IBusRegistrationConfigurator bus) => bus.AddSagaParticipants();
}
