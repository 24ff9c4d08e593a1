namespace Sagas.Contracts.Definitions;

/// <summary>A definition that breaks the rules; <see cref="Errors"/> names every field at fault.</summary>
public sealed class InvalidDefinitionException : Exception
{
    public InvalidDefinitionException(IReadOnlyList<DefinitionError> errors)
        : base("Invalid saga definition: " + string.Join("; ", errors))
    {
        Errors = errors;
    }

    public InvalidDefinitionException()
        : this([])
    {
    }

    public InvalidDefinitionException(string message)
        : base(message)
    {
        Errors = [new DefinitionError("", message)];
    }

    public InvalidDefinitionException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [new DefinitionError("", message)];
    }

    public IReadOnlyList<DefinitionError> Errors { get; } = [];
}
