using System.Text.Json;

namespace Sagas.Participants;

/// <summary>
/// What an <c>accepted</c> barrier row remembers while the work runs: the latest attempt the coordinator sent
/// (heartbeats and the final reply must carry it, or the coordinator ignores them) and the heartbeat extension.
/// Stored as JSON in the row's <c>output</c> column, so accepting long work needs no schema change.
/// </summary>
public sealed record AcceptedWork(int Attempt, TimeSpan? ExtendBy)
{
    public string ToJson() => JsonSerializer.Serialize(this, ParticipantJson.Options);

    public static AcceptedWork FromRow(BarrierRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return row.Output is { } json
            ? JsonSerializer.Deserialize<AcceptedWork>(json, ParticipantJson.Options) ?? new AcceptedWork(1, null)
            : new AcceptedWork(1, null);
    }
}
