using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Sagas.Participants;

/// <summary>Collects one participant's handlers and retry settings inside <c>AddSagaParticipant</c>.</summary>
public sealed class ParticipantBuilder<TDb>
    where TDb : ParticipantDbContext
{
    private readonly List<Type> _handlers = [];
    private readonly ParticipantRetryOptions _retry = new();

    internal ParticipantBuilder(IServiceCollection services, string name)
    {
        Services = services;
        Name = name;
    }

    public IServiceCollection Services { get; }

    public string Name { get; }

    public ParticipantBuilder<TDb> AddHandler<THandler>()
        where THandler : class, IStepHandler
    {
        Services.TryAddScoped<THandler>();
        _handlers.Add(typeof(THandler));
        return this;
    }

    public ParticipantBuilder<TDb> ConfigureRetry(Action<ParticipantRetryOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(_retry);
        return this;
    }

    internal ParticipantRegistration<TDb> Build(IServiceProvider services)
    {
        var actions = new Dictionary<string, Type>(StringComparer.Ordinal);
        var compensations = new Dictionary<string, Type>(StringComparer.Ordinal);
        var claimFirst = new HashSet<string>(StringComparer.Ordinal);

        // Names live on handler instances; resolving each once here also fails fast on missing dependencies.
        using (var scope = services.CreateScope())
        {
            foreach (var type in _handlers)
            {
                var handler = (IStepHandler)scope.ServiceProvider.GetRequiredService(type);
                if (!actions.TryAdd(handler.Action, type))
                {
                    throw new InvalidOperationException($"Participant '{Name}' has two handlers for action '{handler.Action}'.");
                }

                if (handler.ClaimBeforeRunning)
                {
                    claimFirst.Add(handler.Action);
                }

                if (handler.Compensation is { } compensation && !compensations.TryAdd(compensation, type))
                {
                    throw new InvalidOperationException($"Participant '{Name}' has two handlers for compensation '{compensation}'.");
                }
            }
        }

        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Sagas.Participants." + Name);
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(DbErrors.IsTransient),
                MaxRetryAttempts = _retry.MaxRetryAttempts,
                Delay = _retry.Delay,
                MaxDelay = _retry.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    logger.LogDebug(args.Outcome.Exception, "Participant {Participant}: transient error, try {Try} again in {Delay}", Name, args.AttemptNumber + 2, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

        return new ParticipantRegistration<TDb>(Name, actions, compensations, pipeline, claimFirst);
    }
}
