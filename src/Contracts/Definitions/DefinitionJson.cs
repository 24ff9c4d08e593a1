using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sagas.Contracts.Definitions;

/// <summary>Reads and writes the JSON form of a definition (camelCase, TimeSpan as "hh:mm:ss").</summary>
public static class DefinitionJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
    };

    /// <summary>Parses and validates; problems come back as errors naming the field, never as exceptions.</summary>
    public static (SagaDefinition? Definition, IReadOnlyList<DefinitionError> Errors) Parse(string json)
    {
        SagaDefinition? definition;
        try
        {
            definition = JsonSerializer.Deserialize<SagaDefinition>(json, Options);
        }
        catch (JsonException ex)
        {
            var field = string.IsNullOrEmpty(ex.Path) ? "$" : ex.Path.TrimStart('$', '.');
            return (null, [new DefinitionError(field.Length == 0 ? "$" : field, FirstSentence(ex.Message))]);
        }

        var errors = DefinitionValidator.Validate(definition);
        return errors.Count == 0 ? (definition, errors) : (null, errors);
    }

    public static SagaDefinition ParseOrThrow(string json)
    {
        var (definition, errors) = Parse(json);
        return definition ?? throw new InvalidDefinitionException(errors);
    }

    public static string Write(SagaDefinition definition) => JsonSerializer.Serialize(definition, Options);

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
