using System.Diagnostics;
using System.Globalization;

namespace Sagas.Chaos;

/// <summary>Timestamped progress lines on stderr; stdout carries only the summary lines.</summary>
public static class Log
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();
    private static readonly Lock Gate = new();

    public static TimeSpan Elapsed => Clock.Elapsed;

    public static void Info(string message)
    {
        lock (Gate)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{Clock.Elapsed.TotalSeconds,7:0.0}s] {message}"));
        }
    }
}
