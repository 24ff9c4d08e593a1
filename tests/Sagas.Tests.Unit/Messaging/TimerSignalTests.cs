using Sagas.Coordinator.Messaging;
using Xunit;

namespace Sagas.Tests.Unit.Messaging;

/// <summary>
/// The timer poller sleeps until the next wake-up it knows of; these pin down that a commit due sooner always cuts
/// the sleep short, whether it is reported during the sleep or while the look before it was running.
/// </summary>
public sealed class TimerSignalTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Sleep_WakeUpReportedBeforeThePlannedLook_EndsTheSleep()
    {
        var signal = new TimerSignal();
        var now = TimeProvider.System.GetUtcNow();
        signal.BeginLook();
        var sleeping = signal.SleepAsync(now.AddHours(1), now, TimeProvider.System, CancellationToken.None);
        await Task.Delay(50);

        signal.Notify(TimeProvider.System.GetUtcNow());

        await sleeping.WaitAsync(Patience);
    }

    [Fact]
    public async Task Sleep_WakeUpReportedDuringTheLook_SleepIsShortened()
    {
        var signal = new TimerSignal();
        var now = TimeProvider.System.GetUtcNow();
        signal.BeginLook();

        // Reported after the look began and before the sleep: the sleep must not run to the hour.
        signal.Notify(now.AddMilliseconds(20));

        await signal.SleepAsync(now.AddHours(1), now, TimeProvider.System, CancellationToken.None).WaitAsync(Patience);
    }

    [Fact]
    public async Task Sleep_WakeUpAfterThePlannedLook_DoesNotWake()
    {
        var signal = new TimerSignal();
        var now = TimeProvider.System.GetUtcNow();
        signal.BeginLook();
        using var stop = new CancellationTokenSource();
        var sleeping = signal.SleepAsync(now.AddHours(1), now, TimeProvider.System, stop.Token);

        signal.Notify(now.AddHours(2));
        signal.Notify(null);
        var first = await Task.WhenAny(sleeping, Task.Delay(300));

        Assert.NotSame(sleeping, first);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sleeping.WaitAsync(Patience));
    }

    [Fact]
    public async Task Sleep_WokenEarly_StillWaitsTheMinimumInterval()
    {
        var signal = new TimerSignal();
        var now = TimeProvider.System.GetUtcNow();
        var notBefore = now.AddMilliseconds(300);
        signal.BeginLook();
        signal.Notify(now);

        await signal.SleepAsync(now.AddHours(1), notBefore, TimeProvider.System, CancellationToken.None).WaitAsync(Patience);

        Assert.True(TimeProvider.System.GetUtcNow() >= notBefore);
    }
}
