namespace Sagas.Coordinator.Retention;

/// <summary>How long finished sagas are kept, bound from <see cref="Section"/>.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Sagas:Retention";

    /// <summary>Completed, Compensated and Cancelled sagas whose last change is older than this are deleted. Null or zero: keep forever.</summary>
    public TimeSpan? KeepFor { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Sagas deleted per transaction.</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>Pause between two retention runs.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(10);

    public bool Enabled => KeepFor is { } keep && keep > TimeSpan.Zero;
}
