using System.Text.Json;

namespace Sagas.Participants;

/// <summary>What a handler sees of one delivery: the saga, the step, the attempt, the saga data and the open unit of work.</summary>
public sealed class StepContext
{
    private readonly ParticipantDbContext _db;

    internal StepContext(string participant, Guid sagaId, string definition, int version, string step, int attempt, JsonElement data, ParticipantDbContext db, IServiceProvider services)
    {
        Participant = participant;
        SagaId = sagaId;
        Definition = definition;
        Version = version;
        Step = step;
        Attempt = attempt;
        Data = data;
        _db = db;
        Services = services;
    }

    public string Participant { get; }

    public Guid SagaId { get; }

    public string Definition { get; }

    public int Version { get; }

    public string Step { get; }

    public int Attempt { get; }

    /// <summary>The saga data as sent by the coordinator (outputs of earlier steps merged under their step names).</summary>
    public JsonElement Data { get; }

    /// <summary>Scoped services of this try (a fresh scope per retry).</summary>
    public IServiceProvider Services { get; }

    /// <summary>The participant's DbContext, already inside the barrier transaction.</summary>
    public ParticipantDbContext Db() => _db;

    public TDb Db<TDb>()
        where TDb : ParticipantDbContext =>
        _db as TDb ?? throw new InvalidOperationException($"Participant '{Participant}' uses {_db.GetType().Name}, not {typeof(TDb).Name}.");
}
