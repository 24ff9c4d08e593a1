using System.Text.Json.Serialization;

namespace Sagas.Contracts.Definitions;

/// <summary>The step kinds of the saga literature.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StepKind>))]
public enum StepKind
{
    /// <summary>Can be undone by its compensation.</summary>
    Compensatable,

    /// <summary>The point of no return: once it succeeds, the saga only goes forward.</summary>
    Pivot,

    /// <summary>After the pivot: retried until it succeeds, never compensated.</summary>
    Retriable,
}
