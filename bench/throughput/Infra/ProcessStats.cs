using System.Globalization;

namespace Sagas.Bench.Throughput.Infra;

/// <summary>CPU time and peak memory of processes, read from /proc (Linux).</summary>
public static class ProcessStats
{
    // USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
    private const double TicksPerSecond = 100.0;

    /// <summary>utime + stime of the process (its threads included), in seconds; 0 when it is gone.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    public static double CpuSeconds(IEnumerable<int> pids) => pids.Sum(CpuSeconds);

    /// <summary>
    /// The whole machine's CPU ticks from the first line of /proc/stat, every core summed: busy (user, nice, system,
    /// irq, softirq), steal (time the hypervisor ran someone else while this machine had work) and total (those, idle
    /// and iowait). Two readings give how busy the machine was between them, whatever process used it, and how much
    /// of the CPU it did not get.
    /// </summary>
    public static (long Busy, long Steal, long Total) MachineTicks()
    {
        var line = File.ReadLines("/proc/stat").First();
        var ticks = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already counted in user.
        var total = ticks.Take(8).Sum();
        return (total - ticks[3] - ticks[4] - ticks[7], ticks[7], total);
    }

    /// <summary>Context switches of every process on the machine since boot (the <c>ctxt</c> line of /proc/stat).</summary>
    public static long MachineContextSwitches()
    {
        var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("ctxt ", StringComparison.Ordinal));
        return long.Parse(line.AsSpan(5).Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Peak resident set size (VmHWM) in MiB.</summary>
    public static double PeakResidentMiB(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    public static List<int> FindByName(string name)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == name)
                {
                    pids.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to read.
            }
        }

        return pids;
    }
}
