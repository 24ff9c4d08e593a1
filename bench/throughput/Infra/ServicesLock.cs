using System.Runtime.InteropServices;

namespace Sagas.Bench.Throughput.Infra;

/// <summary>
/// The lock every heavy user of the shared RabbitMQ and PostgreSQL takes (/tmp/sagas-services.lock, flock(2), the
/// same lock as the flock(1) command), held per system so that no hold lasts more than a few minutes.
/// </summary>
public sealed partial class ServicesLock : IDisposable
{
    private const string Path = "/tmp/sagas-services.lock";
    private const int LockExclusive = 2;
    private const int Unlock = 8;
    private readonly FileStream? file;

    private ServicesLock(FileStream? file) => this.file = file;

    public static async Task<ServicesLock> AcquireAsync(bool skip)
    {
        if (skip)
        {
            return new ServicesLock(null);
        }

        var file = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        var fd = (int)file.SafeFileHandle.DangerousGetHandle();
        // flock blocks the calling thread while another holder works; keep that off the thread pool's hot threads.
        var result = await Task.Factory.StartNew(() => Flock(fd, LockExclusive), TaskCreationOptions.LongRunning);
        if (result != 0)
        {
            await file.DisposeAsync();
            throw new IOException($"flock {Path} failed: errno {Marshal.GetLastPInvokeError()}");
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

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);
}
