namespace Sagas.Contracts.Definitions;

/// <summary>One problem in a definition; <paramref name="Field"/> is a JSON path such as <c>steps[2].timeout</c>.</summary>
public sealed record DefinitionError(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}
