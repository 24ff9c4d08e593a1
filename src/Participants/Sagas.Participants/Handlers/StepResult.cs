using System.Text.Json;

namespace Sagas.Participants;

public enum StepOutcome
{
    Succeeded,
    BusinessFailure,
    RetryableFailure,

    /// <summary>Long work: accepted now, the outcome is reported later through <see cref="StepReporter{TDb}"/>.</summary>
    Accepted,
}

/// <summary>
/// How an action ended. A business failure is final (its barrier row is kept); a retryable one leaves no trace;
/// an accepted one commits the handler's writes with an <c>accepted</c> barrier row and answers with a heartbeat.
/// </summary>
public sealed record StepResult
{
    private StepResult(StepOutcome outcome, JsonElement? output, string? reason, TimeSpan? retryAfter, TimeSpan? extendBy = null)
    {
        Outcome = outcome;
        Output = output;
        Reason = reason;
        RetryAfter = retryAfter;
        ExtendBy = extendBy;
    }

    public StepOutcome Outcome { get; }

    public JsonElement? Output { get; }

    public string? Reason { get; }

    public TimeSpan? RetryAfter { get; }

    /// <summary>For <see cref="StepOutcome.Accepted"/>: how far each heartbeat moves the coordinator's timeout (null: the step's timeout).</summary>
    public TimeSpan? ExtendBy { get; }

    public static StepResult Succeeded(JsonElement? output = null) => new(StepOutcome.Succeeded, output, null, null);

    public static StepResult SucceededWith<T>(T output) => Succeeded((JsonElement?)JsonSerializer.SerializeToElement(output, ParticipantJson.Options));

    public static StepResult BusinessFailure(string reason) => new(StepOutcome.BusinessFailure, null, Require(reason), null);

    public static StepResult RetryableFailure(string reason, TimeSpan? retryAfter = null) => new(StepOutcome.RetryableFailure, null, Require(reason), retryAfter);

    /// <summary>
    /// "Accepted, will report later": the handler's writes so far (e.g. a job row) commit with an <c>accepted</c>
    /// barrier row, the coordinator gets a <c>StepHeartbeat</c>, and the outcome follows through
    /// <see cref="StepReporter{TDb}.CompleteAsync"/>. Duplicates of the command do not run the handler again.
    /// </summary>
    public static StepResult Accepted(TimeSpan? extendBy = null) =>
        extendBy is { } e && e <= TimeSpan.Zero
            ? throw new ArgumentOutOfRangeException(nameof(extendBy), "extendBy must be more than zero.")
            : new(StepOutcome.Accepted, null, null, null, extendBy);

    private static string Require(string reason) =>
        string.IsNullOrWhiteSpace(reason) ? throw new ArgumentException("A failure needs a reason.", nameof(reason)) : reason;
}

/// <summary>How a compensation ended. A failed compensation rolls back and leaves no barrier row, so it can be retried.</summary>
public sealed record CompensationResult
{
    private CompensationResult(bool compensated, string? reason, bool retryable)
    {
        IsCompensated = compensated;
        Reason = reason;
        Retryable = retryable;
    }

    public bool IsCompensated { get; }

    public string? Reason { get; }

    public bool Retryable { get; }

    public static CompensationResult Compensated { get; } = new(true, null, false);

    public static CompensationResult Failed(string reason, bool retryable) =>
        string.IsNullOrWhiteSpace(reason) ? throw new ArgumentException("A failure needs a reason.", nameof(reason)) : new(false, reason, retryable);
}

/// <summary>The JSON shape of outputs: camelCase like the MassTransit envelope.</summary>
public static class ParticipantJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);
}
