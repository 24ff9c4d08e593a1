using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Hosting;

namespace Sagas.Coordinator.Definitions;

/// <summary>Registers every <c>*.json</c> definition in the configured folder at start-up. A bad file stops start-up with the file and field named.</summary>
public static class DefinitionLoader
{
    public static async Task LoadAsync(DefinitionRegistry registry, SagasOptions options, ILogger logger, CancellationToken ct)
    {
        var folder = Path.IsPathRooted(options.DefinitionsPath)
            ? options.DefinitionsPath
            : Path.Combine(AppContext.BaseDirectory, options.DefinitionsPath);
        if (!Directory.Exists(folder))
        {
            logger.LogWarning("Definitions folder {Folder} does not exist; no definitions loaded from files", folder);
            return;
        }

        foreach (var file in Directory.EnumerateFiles(folder, "*.json").Order(StringComparer.Ordinal))
        {
            var (definition, errors) = DefinitionJson.Parse(await File.ReadAllTextAsync(file, ct));
            if (definition is null)
            {
                throw new InvalidDefinitionException($"{file}: " + string.Join("; ", errors));
            }

            var result = await registry.RegisterAsync(definition, ct);
            if (result.Outcome is RegisterOutcome.Invalid or RegisterOutcome.VersionExists)
            {
                throw new InvalidDefinitionException($"{file}: " + string.Join("; ", result.Errors));
            }

            logger.LogInformation("Definition {Definition} from {File}: {Outcome}", definition.Key, Path.GetFileName(file), result.Outcome);
        }
    }
}
