namespace Sagas.Coordinator.Messaging;

/// <summary>
/// Lets the timer poller sleep until the next timer it knows of instead of polling on a fixed beat: every commit in
/// this process reports its saga's next wake-up, and one due before the poller's planned look wakes it early. A look
/// records which reports arrive while it runs (<see cref="BeginLook"/>), so none falls between a look and its sleep.
/// Timers written by other instances are seen at the next look, which is never further away than the poller's cap.
/// </summary>
public sealed class TimerSignal
{
    private long _earliest = long.MaxValue;
    private long _planned = long.MinValue;
    private TaskCompletionSource _wake = NewWake();

    /// <summary>A saga was committed with this next wake-up (null: none).</summary>
    public void Notify(DateTimeOffset? wakeAt)
    {
        if (wakeAt is not { } at)
        {
            return;
        }

        var ticks = at.UtcTicks;
        long current;
        do
        {
            current = Interlocked.Read(ref _earliest);
            if (ticks >= current)
            {
                break;
            }
        }
        while (Interlocked.CompareExchange(ref _earliest, ticks, current) != current);

        if (ticks < Interlocked.Read(ref _planned))
        {
            Volatile.Read(ref _wake).TrySetResult();
        }
    }

    /// <summary>Called before the poller queries: reports from here on count for the sleep that follows.</summary>
    public void BeginLook() => Interlocked.Exchange(ref _earliest, long.MaxValue);

    /// <summary>
    /// Sleeps until <paramref name="until"/>, or until a reported wake-up before it, but never past
    /// <paramref name="until"/> and never before <paramref name="notBefore"/> (the poller's minimum interval).
    /// </summary>
    public async Task SleepAsync(DateTimeOffset until, DateTimeOffset notBefore, TimeProvider clock, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var wake = NewWake();
        Volatile.Write(ref _wake, wake);
        Interlocked.Exchange(ref _planned, until.UtcTicks);
        try
        {
            var reported = Interlocked.Read(ref _earliest);
            if (reported < until.UtcTicks)
            {
                until = new DateTimeOffset(reported, TimeSpan.Zero);
            }

            var delay = until - clock.GetUtcNow();
            if (delay > TimeSpan.Zero)
            {
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var sleeping = Task.Delay(delay, clock, stop.Token);
                await Task.WhenAny(sleeping, wake.Task);
                await stop.CancelAsync();
            }

            // A timer may fire a fraction of a millisecond before the wall clock reaches its due time: wait again.
            for (var rest = notBefore - clock.GetUtcNow(); rest > TimeSpan.Zero; rest = notBefore - clock.GetUtcNow())
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(rest.TotalMilliseconds)), clock, ct);
            }

            ct.ThrowIfCancellationRequested();
        }
        finally
        {
            Interlocked.Exchange(ref _planned, long.MinValue);
        }
    }

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
