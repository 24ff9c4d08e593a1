using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Sagas.Participants;

/// <summary>
/// Test hook bound from <c>Sagas:Participants:Faults</c>. Off unless a path is set; meant for end-to-end tests of
/// a separate process (e.g. the dashboard's browser tests), which cannot register <see cref="ScriptedParticipantFaults"/>.
/// </summary>
public sealed class ParticipantFaultOptions
{
    public const string Section = "Sagas:Participants:Faults";

    /// <summary>While a file exists at this path, every compensation fails (not retryable) without touching the database.</summary>
    public string? FailCompensationsWhileFileExists { get; set; }

    /// <summary>The <see cref="IParticipantFaults"/> these options ask for: <see cref="NoParticipantFaults"/> when none is set.</summary>
    public static IParticipantFaults Create(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<ParticipantFaultOptions>>().Value;
        return string.IsNullOrWhiteSpace(options.FailCompensationsWhileFileExists)
            ? new NoParticipantFaults()
            : new FileFlagParticipantFaults(options.FailCompensationsWhileFileExists);
    }
}

/// <summary>Fails every compensation while the flag file exists; see <see cref="ParticipantFaultOptions"/>.</summary>
public sealed class FileFlagParticipantFaults(string flagFile) : IParticipantFaults
{
    public ValueTask<FaultDecision> BeforeAsync(FaultContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ValueTask.FromResult(context.IsCompensation && File.Exists(flagFile)
            ? FaultDecision.FailCompensation(retryable: false, $"{context.Participant} cannot {context.Name} now (test hook: {flagFile} exists)")
            : FaultDecision.None);
    }
}
