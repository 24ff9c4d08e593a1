namespace Sagas.Contracts.Definitions;

/// <summary>Exponential back-off: attempt n waits InitialDelay * Multiplier^(n-1), capped by MaxDelay.</summary>
public sealed record RetryPolicy
{
    public static readonly RetryPolicy Default = new();

    /// <summary>
    /// A rollback must ride out ordinary outages: a participant whose database is down answers at once with a retryable
    /// failure, and 5 attempts (the default before) ran out in about 3 s, leaving the saga <c>Failed</c> for a person.
    /// 50 attempts at the 30-s cap keep trying for about 21 minutes of such answers (longer when attempts time out).
    /// </summary>
    public static readonly RetryPolicy DefaultCompensation = new() { MaxAttempts = 50 };

    /// <summary>Attempts in all, the first included.</summary>
    public int MaxAttempts { get; init; } = 3;

    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public double Multiplier { get; init; } = 2.0;

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The wait before attempt <paramref name="nextAttempt"/> (2 or more).</summary>
    public TimeSpan DelayBefore(int nextAttempt)
    {
        var exponent = Math.Max(0, nextAttempt - 2);
        var ms = InitialDelay.TotalMilliseconds * Math.Pow(Multiplier, exponent);
        return ms >= MaxDelay.TotalMilliseconds ? MaxDelay : TimeSpan.FromMilliseconds(ms);
    }
}
