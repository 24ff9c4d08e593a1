using Sagas.Coordinator.Api.Auth;

namespace Sagas.Coordinator.Hosting;

/// <summary>Top-level settings, bound from the <see cref="Section"/> section.</summary>
public sealed class SagasOptions
{
    public const string Section = "Sagas";

    /// <summary>Embedded: SQLite, in-memory transport, demo participants in-process. Distributed: real broker and database, participants elsewhere.</summary>
    public SagasMode Mode { get; set; } = SagasMode.Embedded;

    /// <summary>Folder of definition JSON files loaded at start-up (relative to the app's folder).</summary>
    public string DefinitionsPath { get; set; } = "definitions";

    /// <summary>Host the sample participants (inventory, payments, shipping) in this process. Defaults to true in embedded mode.</summary>
    public bool? HostSampleParticipants { get; set; }

    /// <summary>Largest accepted saga data, in bytes.</summary>
    public int MaxDataBytes { get; set; } = 256 * 1024;

    /// <summary>Largest accepted HTTP request body, in bytes; larger ones get 413.</summary>
    public long MaxRequestBytes { get; set; } = 1024 * 1024;

    /// <summary>API keys, JWT bearer tokens and roles (<c>Sagas:Auth</c>).</summary>
    public AuthOptions Auth { get; set; } = new();

    /// <summary>The shortest time between two looks of the timer poller for due timeouts and retries.</summary>
    public TimeSpan TimerPollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The longest time between two looks. The poller sleeps until the next wake-up it knows of; this bounds how
    /// late a timer written by another coordinator instance (or a look that failed) can be seen.
    /// </summary>
    public TimeSpan TimerPollMaxInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Outbox rows older than this are swept and sent again (after a crash between commit and send).</summary>
    public TimeSpan OutboxSweepAge { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Commands for one participant that become ready together (one group commit's) go in one broker message of at
    /// most this many (<see cref="Contracts.StepCommandBatch"/>); 1 sends each alone, as participants built before
    /// batches expect.
    /// </summary>
    public int CommandBatchSize { get; set; } = 32;

    /// <summary>
    /// <see cref="CommandBatchSize"/> for single participants, by the participant name of the definitions' steps (the
    /// queue their commands go to): e.g. 1 for a participant that does not read batches yet, while the others do.
    /// </summary>
    public Dictionary<string, int> ParticipantCommandBatchSize { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Test hook: send every outgoing message twice with the same message id.</summary>
    public bool DuplicateDelivery { get; set; }
}

public enum SagasMode
{
    Embedded,
    Distributed,
}
