namespace Sagas.Contracts.Definitions;

/// <summary>Fluent C# form of a definition; produces the same model as the JSON form.</summary>
public sealed class SagaDefinitionBuilder
{
    private readonly string _name;
    private readonly int _version;
    private readonly List<StepDefinition> _steps = [];
    private TimeSpan? _deadline;
    private string? _description;

    private SagaDefinitionBuilder(string name, int version)
    {
        _name = name;
        _version = version;
    }

    public static SagaDefinitionBuilder Create(string name, int version = 1) => new(name, version);

    public SagaDefinitionBuilder Describe(string description)
    {
        _description = description;
        return this;
    }

    public SagaDefinitionBuilder Deadline(TimeSpan deadline)
    {
        _deadline = deadline;
        return this;
    }

    public SagaDefinitionBuilder Step(string name, Func<StepBuilder, StepBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _steps.Add(configure(new StepBuilder(name)).Build());
        return this;
    }

    /// <summary>Builds and validates; throws <see cref="InvalidDefinitionException"/> listing every problem.</summary>
    public SagaDefinition Build()
    {
        var definition = new SagaDefinition
        {
            Name = _name,
            Version = _version,
            Description = _description,
            Deadline = _deadline,
            Steps = _steps.ToArray(),
        };
        var errors = DefinitionValidator.Validate(definition);
        return errors.Count == 0 ? definition : throw new InvalidDefinitionException(errors);
    }
}

/// <summary>Configures one step of a <see cref="SagaDefinitionBuilder"/>.</summary>
public sealed class StepBuilder
{
    private StepDefinition _step;

    internal StepBuilder(string name) => _step = new StepDefinition { Name = name };

    public StepBuilder On(string participant) => Set(_step with { Participant = participant });

    public StepBuilder Action(string action) => Set(_step with { Action = action });

    public StepBuilder Compensation(string compensation) => Set(_step with { Compensation = compensation });

    public StepBuilder Kind(StepKind kind) => Set(_step with { Kind = kind });

    /// <summary>Runs this step in parallel with the neighbouring steps of the same group.</summary>
    public StepBuilder InGroup(string group) => Set(_step with { Group = group });

    /// <summary>Makes this a wait step for the named signal; <see cref="Timeout"/> bounds the wait.</summary>
    public StepBuilder WaitFor(string signal) => Set(_step with { WaitFor = signal });

    /// <summary>Sends only these top-level data fields with the step's commands.</summary>
    public StepBuilder SendFields(params string[] fields) => Set(_step with { DataFields = fields });

    public StepBuilder Timeout(TimeSpan timeout) => Set(_step with { Timeout = timeout });

    public StepBuilder CompensationTimeout(TimeSpan timeout) => Set(_step with { CompensationTimeout = timeout });

    public StepBuilder Retry(int maxAttempts, TimeSpan initialDelay, TimeSpan? maxDelay = null, double multiplier = 2.0) =>
        Set(_step with { Retry = Policy(maxAttempts, initialDelay, maxDelay, multiplier) });

    public StepBuilder CompensationRetry(int maxAttempts, TimeSpan initialDelay, TimeSpan? maxDelay = null, double multiplier = 2.0) =>
        Set(_step with { CompensationRetry = Policy(maxAttempts, initialDelay, maxDelay, multiplier) });

    internal StepDefinition Build() => _step;

    private static RetryPolicy Policy(int maxAttempts, TimeSpan initialDelay, TimeSpan? maxDelay, double multiplier) => new()
    {
        MaxAttempts = maxAttempts,
        InitialDelay = initialDelay,
        MaxDelay = maxDelay ?? RetryPolicy.Default.MaxDelay,
        Multiplier = multiplier,
    };

    private StepBuilder Set(StepDefinition step)
    {
        _step = step;
        return this;
    }
}
