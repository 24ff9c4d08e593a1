using System.Runtime.InteropServices;

namespace Sagas.Bench.Throughput.Infra;

/// <summary>
/// The lock every heavy user of the shared RabbitMQ and PostgreSQL takes (/tmp/sagas-services.lock, flock(2), the
/// same lock as the flock(1) command), held per system so that no hold lasts more than a few minutes.
/// </summary>
public sealed partial class ServicesLock : IDisposable
{
    private const string LockPath = "/tmp/sagas-services.lock";
    private const int LockExclusive = 2;
    private const int Unlock = 8;

    // A broker or database started by a command run under `flock` inherits the lock's descriptor and holds
    // the lock for as long as it runs: nobody will ever get it, so waiting longer does not help.
    private static readonly string[] Daemons = ["postgres", "beam.smp", "epmd", "erl_child_setup", "inet_gethost"];

    private readonly FileStream? file;

    private ServicesLock(FileStream? file) => this.file = file;

    public static async Task<ServicesLock> AcquireAsync(bool skip, Action<string> log)
    {
        if (skip)
        {
            return new ServicesLock(null);
        }

        var file = new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        var fd = (int)file.SafeFileHandle.DangerousGetHandle();
        // A blocking flock queues like flock(1) does (polling with LOCK_NB loses every time to blocked waiters).
        var acquired = Task.Factory.StartNew(() => Flock(fd, LockExclusive), TaskCreationOptions.LongRunning);
        var waited = TimeSpan.Zero;
        while (await Task.WhenAny(acquired, Task.Delay(TimeSpan.FromSeconds(5))) != acquired)
        {
            waited += TimeSpan.FromSeconds(5);
            var holders = Holders();
            if (holders.Count > 0 && holders.All(h => Daemons.Contains(h.Name)))
            {
                log($"{LockPath} is held only by daemons ({string.Join(", ", holders.Select(h => $"{h.Name} {h.Pid}"))}): a stuck lock, running without it");
                // Should the lock come free after all, closing the file releases it at once.
                _ = acquired.ContinueWith(_ => file.Dispose(), TaskScheduler.Default);
                return new ServicesLock(null);
            }

            if (waited.TotalSeconds % 60 == 0)
            {
                log($"waiting for {LockPath} ({waited.TotalSeconds:0} s; open by {string.Join(", ", holders.Select(h => $"{h.Name} {h.Pid}"))})");
            }
        }

        if (await acquired != 0)
        {
            await file.DisposeAsync();
            throw new IOException($"flock {LockPath} failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return new ServicesLock(file);
    }

    public void Dispose()
    {
        if (file is null)
        {
            return;
        }

        Flock((int)file.SafeFileHandle.DangerousGetHandle(), Unlock);
        file.Dispose();
    }

    /// <summary>Other processes with the lock file open (whoever holds or waits for the lock).</summary>
    private static List<(int Pid, string Name)> Holders()
    {
        var self = Environment.ProcessId;
        var holders = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == self)
            {
                continue;
            }

            try
            {
                if (Directory.EnumerateFileSystemEntries(Path.Combine(dir, "fd")).Any(fd => new FileInfo(fd).LinkTarget == LockPath))
                {
                    holders.Add((pid, File.ReadAllText(Path.Combine(dir, "comm")).Trim()));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone, or not ours to look at.
            }
        }

        return holders;
    }

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);
}
