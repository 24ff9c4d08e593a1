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
    /// True: replies to different commands that are ready while another reply is being sent go together, as one
    /// <c>StepReplyBatch</c>, once that send is done. False (default): each command's reply goes alone (a command batch's
    /// replies still share messages among themselves). Off by default until a send that hangs across a broker outage
    /// cannot hold every reply of the host behind it: the chaos run saw a participants host stop replying that way.
    /// </summary>
    public bool BatchAcrossCommands { get; set; }

    /// <summary>Test hook: send every reply twice with the same MessageId, to prove the coordinator's inbox.</summary>
    public bool SendEveryReplyTwice { get; set; }
}
