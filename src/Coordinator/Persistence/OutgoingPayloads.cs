using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Sagas.Contracts;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Encodes the payloads of the commands a decision sends (encrypted, claim-checked when large) before they are
/// written to the outbox, so the outbox row and the wire carry the same encoded message. Claims are added to the
/// decision's own transaction: a command never refers to a claim that did not commit. With an external store (S3)
/// the claim is written there before the commit instead.
/// </summary>
/// <param name="externalStore">Where claims go when they do not live in the coordinator's database; null: the database.</param>
public sealed class OutgoingPayloads(PayloadCodec codec, TimeProvider clock, IClaimStore? externalStore = null)
{
    public bool IsActive => codec.IsActive;

    /// <summary>An encoder for one decision: commands of a parallel group share one encoding of the same data.</summary>
    public DecisionEncoder BeginDecision(SagasDbContext db, Guid sagaId) => new(codec, db, externalStore, sagaId, clock.GetUtcNow());

    public sealed class DecisionEncoder
    {
        private readonly PayloadCodec _codec;
        private readonly SagasDbContext _db;
        private readonly IClaimStore? _externalStore;
        private readonly Guid _sagaId;
        private readonly DateTimeOffset _now;
        private readonly Dictionary<string, JsonElement> _encoded = new(StringComparer.Ordinal);

        internal DecisionEncoder(PayloadCodec codec, SagasDbContext db, IClaimStore? externalStore, Guid sagaId, DateTimeOffset now)
        {
            _codec = codec;
            _db = db;
            _externalStore = externalStore;
            _sagaId = sagaId;
            _now = now;
        }

        public async ValueTask<object> EncodeAsync(object message, CancellationToken ct) => message switch
        {
            ExecuteStep e => e with { Data = await EncodeAsync(e.Data, ct) },
            CompensateStep c => c with { Data = await EncodeAsync(c.Data, ct) },
            _ => message,
        };

        private async ValueTask<JsonElement> EncodeAsync(JsonElement data, CancellationToken ct)
        {
            var plain = data.GetRawText();
            if (_encoded.TryGetValue(plain, out var known))
            {
                return known;
            }

            var encoded = _codec.Encode(_sagaId, data, out var claim);
            if (claim is not null && _externalStore is not null)
            {
                await _externalStore.WriteAsync(claim, ct);
            }
            else if (claim is not null && _db.Claims.Local.All(c => c.Id != claim.Id) && !await _db.Claims.AnyAsync(c => c.Id == claim.Id, ct))
            {
                _db.Claims.Add(CoordinatorClaimStore.ToRecord(claim, _now));
            }

            _encoded[plain] = encoded;
            return encoded;
        }
    }
}
