// Usage (see docs/benchmarks.md, eighth session):
//   dotnet-trace collect -p <pid> --profile gc-verbose --duration 00:00:00:15 -o coordinator.nettrace
//   dotnet run -c Release --project bench/allocations -- coordinator.nettrace [top]
// Each GCAllocationTick event stands for about 100 KB allocated; its type and call stack say by whom.
using System.Globalization;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

if (args.Length == 0 || !File.Exists(args[0]))
{
    Console.Error.WriteLine("usage: Sagas.Bench.Allocations <trace.nettrace> [top]");
    return 2;
}

var top = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 25;
string[] baseLibrary = ["System.Private.CoreLib", "System.Runtime", "System.Collections", "System.Linq", "System.Memory"];
var byType = new Dictionary<string, long>(StringComparer.Ordinal);
var byFrame = new Dictionary<string, long>(StringComparer.Ordinal);
var byOurs = new Dictionary<string, long>(StringComparer.Ordinal);
long total = 0;

using (var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(args[0])))
{
    foreach (var data in log.Events)
    {
        if (data is not GCAllocationTickTraceData tick)
        {
            continue;
        }

        total += tick.AllocationAmount64;
        Add(byType, tick.TypeName ?? "?", tick.AllocationAmount64);
        string? outsideBase = null;
        string? ours = null;
        for (var frame = data.CallStack(); frame is not null && (outsideBase is null || ours is null); frame = frame.Caller)
        {
            var method = frame.CodeAddress.FullMethodName;
            if (string.IsNullOrEmpty(method))
            {
                continue;
            }

            var name = frame.CodeAddress.ModuleName + "!" + method;
            if (outsideBase is null && !Array.Exists(baseLibrary, b => name.StartsWith(b, StringComparison.OrdinalIgnoreCase)))
            {
                outsideBase = name;
            }

            if (ours is null && name.StartsWith("Sagas", StringComparison.OrdinalIgnoreCase))
            {
                ours = name;
            }
        }

        Add(byFrame, outsideBase ?? "(base library only)", tick.AllocationAmount64);
        Add(byOurs, ours ?? "(no Sagas frame: framework code)", tick.AllocationAmount64);
    }
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sampled allocations: {total / 1048576.0:F1} MiB"));
Print("by type", byType);
Print("by first frame outside the base library", byFrame);
Print("by innermost Sagas frame", byOurs);
return 0;

static void Add(Dictionary<string, long> sums, string key, long amount) => sums[key] = sums.GetValueOrDefault(key) + amount;

void Print(string title, Dictionary<string, long> sums)
{
    Console.WriteLine("--- " + title);
    foreach (var (key, amount) in sums.OrderByDescending(s => s.Value).Take(top))
    {
        var share = total == 0 ? 0 : 100.0 * amount / total;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{share,5:F1}%  {(key.Length > 180 ? key[..180] : key)}"));
    }
}
