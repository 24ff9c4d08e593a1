using Polly;

namespace Sagas.Participants;

/// <summary>A participant's resolved configuration: its queue name, handlers by action/compensation name, and retry pipeline.</summary>
public sealed class ParticipantRegistration<TDb>
    where TDb : ParticipantDbContext
{
    internal ParticipantRegistration(string name, IReadOnlyDictionary<string, Type> actions, IReadOnlyDictionary<string, Type> compensations, ResiliencePipeline pipeline, IReadOnlySet<string>? claimFirst = null)
    {
        Name = name;
        Actions = actions;
        Compensations = compensations;
        Pipeline = pipeline;
        ClaimFirst = claimFirst ?? new HashSet<string>();
    }

    /// <summary>The participant's name, which is also its queue.</summary>
    public string Name { get; }

    public IReadOnlyDictionary<string, Type> Actions { get; }

    public IReadOnlyDictionary<string, Type> Compensations { get; }

    public ResiliencePipeline Pipeline { get; }

    /// <summary>Actions whose handler claims its key before running (<see cref="IStepHandler.ClaimBeforeRunning"/>).</summary>
    internal IReadOnlySet<string> ClaimFirst { get; }
}

/// <summary>Marks a registered participant so the bus registration can find every one of them.</summary>
public sealed record ParticipantDescriptor(string Name, Type DbContextType, Action<MassTransit.IBusRegistrationConfigurator> AddConsumers);
