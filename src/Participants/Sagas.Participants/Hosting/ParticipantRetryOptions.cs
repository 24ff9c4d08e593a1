namespace Sagas.Participants;

/// <summary>In-process retries of one handler call for transient database errors; each try is a fresh transaction.</summary>
public sealed class ParticipantRetryOptions
{
    public int MaxRetryAttempts { get; set; } = 5;

    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Where and how replies go. Bound to DI as options; the same for every participant of a process.</summary>
public sealed class ParticipantReplyOptions
{
    /// <summary>Configuration section, e.g. <c>Sagas__Participants__Reply__SendEveryReplyTwice=true</c> for chaos runs.</summary>
    public const string Section = "Sagas:Participants:Reply";

    /// <summary>The coordinator's queue.</summary>
    public Uri ReplyAddress { get; set; } = DefaultReplyAddress;

    internal static readonly Uri DefaultReplyAddress = new("queue:" + Contracts.Endpoints.Coordinator);

    /// <summary>
    /// True (default): replies to different commands that are ready while another reply is being sent go together, as
    /// one <c>StepReplyBatch</c>, once that send is done; a send that is late (<see cref="HandOnAfter"/>) holds them
    /// no longer. False: each command's reply goes alone (a command batch's replies still share messages among
    /// themselves); for a coordinator older than <c>StepReplyBatch</c>.
    /// </summary>
    public bool BatchAcrossCommands { get; set; } = true;

    /// <summary>
    /// How long a reply message shared by several replies may take to be confirmed before the replies waiting behind
    /// it stop waiting: the next ones go, and those that rode in it are sent again alone (the coordinator drops the
    /// copies). Bounds what one send hanging across a broker outage can hold back.
    /// </summary>
    public TimeSpan HandOnAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a reply that finds no other send in flight may wait for replies to other commands to join its message,
    /// when replies come often enough that some should (<c>BatchWaitPolicy</c>: about 250 a second or more for the
    /// default 2 ms) and recent waits did gather some. Zero: it goes at once. Each message saved costs the broker,
    /// this host and the coordinator a wake-up less; the wait adds about this much to the step's latency (a
    /// <c>Task.Delay</c>, which can last longer under load). At most one second.
    /// </summary>
    public TimeSpan BatchWait { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>The longest <see cref="BatchWait"/> accepted.</summary>
    internal static readonly TimeSpan MaxBatchWait = TimeSpan.FromSeconds(1);

    /// <summary>Test hook: send every reply twice with the same MessageId, to prove the coordinator's inbox.</summary>
    public bool SendEveryReplyTwice { get; set; }
}

/// <summary>How a participant host handles a batch of commands (<c>StepCommandBatch</c>). The same for every participant of a process.</summary>
public sealed class ParticipantBatchOptions
{
    /// <summary>Configuration section, e.g. <c>Sagas__Participants__Batch__MaxPerTransaction=1</c>.</summary>
    public const string Section = "Sagas:Participants:Batch";

    /// <summary>
    /// Most commands of one batch that share one transaction, on PostgreSQL: first attempts of actions whose handler
    /// does not claim before running. Their handlers run in turn on one context and a single commit records them all,
    /// one round trip and one WAL flush instead of one each. When one of them does not succeed, nothing of the shared
    /// try commits and each command is handled alone. 1: every command has its own transaction. At most 64.
    /// </summary>
    public int MaxPerTransaction { get; set; } = 16;

    /// <summary>The largest <see cref="MaxPerTransaction"/> accepted.</summary>
    internal const int MaxAllowed = 64;
}
