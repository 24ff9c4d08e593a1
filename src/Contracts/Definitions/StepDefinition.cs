namespace Sagas.Contracts.Definitions;

/// <summary>One step: which participant runs it, the action and its compensation, and how long and how often to try.</summary>
public sealed record StepDefinition
{
    public string Name { get; init; } = "";

    /// <summary>The participant's queue name.</summary>
    public string Participant { get; init; } = "";

    public string Action { get; init; } = "";

    /// <summary>The undo action; null for a pivot or retriable step.</summary>
    public string? Compensation { get; init; }

    public StepKind Kind { get; init; } = StepKind.Compensatable;

    /// <summary>How long one attempt may take before the coordinator treats its outcome as unknown.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one compensation attempt may take; defaults to <see cref="Timeout"/>.</summary>
    public TimeSpan? CompensationTimeout { get; init; }

    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;

    public RetryPolicy CompensationRetry { get; init; } = RetryPolicy.DefaultCompensation;
}
