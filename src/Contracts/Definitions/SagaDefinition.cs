using System.Text.Json.Serialization;

namespace Sagas.Contracts.Definitions;

/// <summary>A named, versioned, ordered list of steps. Definitions are data: this record is also their JSON form.</summary>
public sealed record SagaDefinition
{
    public string Name { get; init; } = "";

    public int Version { get; init; } = 1;

    public string? Description { get; init; }

    /// <summary>Optional deadline for the whole saga; when it passes the saga compensates.</summary>
    public TimeSpan? Deadline { get; init; }

    public IReadOnlyList<StepDefinition> Steps { get; init; } = [];

    [JsonIgnore]
    public string Key => $"{Name}@v{Version}";

    public StepDefinition? FindStep(string name)
    {
        foreach (var step in Steps)
        {
            if (string.Equals(step.Name, name, StringComparison.Ordinal))
            {
                return step;
            }
        }

        return null;
    }

    public int IndexOf(string name)
    {
        for (var i = 0; i < Steps.Count; i++)
        {
            if (string.Equals(Steps[i].Name, name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
