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

    /// <summary>
    /// Parallel group: consecutive steps with the same group run at once (fan-out) and the saga goes on when all
    /// have succeeded (fan-in). Null for a step that runs on its own.
    /// </summary>
    public string? Group { get; init; }

    /// <summary>
    /// Makes this a wait step: no participant is called; the saga waits (up to <see cref="Timeout"/>) for the
    /// named signal, whose payload merges into the saga data. A signal that arrived early is used at once.
    /// </summary>
    public string? WaitFor { get; init; }

    /// <summary>Top-level saga data fields sent with this step's commands; null sends all the data.</summary>
    public IReadOnlyList<string>? DataFields { get; init; }

    public bool IsWait => !string.IsNullOrEmpty(WaitFor);
}
