using Sagas.Bench.Throughput.Load;

namespace Sagas.Bench.Throughput.Systems;

/// <summary>A saga system the driver loads: how to start it, where its sagas start and end, what to measure.</summary>
public interface ISystemUnderTest : IAsyncDisposable
{
    string Name { get; }

    StartMessage Start { get; }

    /// <summary>Exchanges whose messages are terminal events (bound to the driver's queue); empty when the system sends to the queue.</summary>
    IReadOnlyList<string> TerminalExchanges { get; }

    /// <summary>The orchestrator's own database(s): the "coordinator commits per saga".</summary>
    IReadOnlyList<string> CoordinatorDatabases { get; }

    /// <summary>Every database the system writes (orchestrator and participants).</summary>
    IReadOnlyList<string> AllDatabases { get; }

    /// <summary>The system's processes (coordinator, participants, peer host), for CPU.</summary>
    IReadOnlyList<int> ProcessIds { get; }

    /// <summary>The orchestrating process, for its peak memory.</summary>
    int CoordinatorPid { get; }

    Task LaunchAsync();

    bool IsAlive();
}
