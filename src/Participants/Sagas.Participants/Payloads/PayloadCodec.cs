using System.Text;
using System.Text.Json;
using Sagas.Contracts;

namespace Sagas.Participants.Payloads;

/// <summary>
/// Applied at the edges to every JSON payload (saga data, step data, step output, signal payload): encodes it
/// for the wire (encrypt, then claim-check when large) and decodes what arrives (fetch the claim, then decrypt).
/// Payloads that are neither encrypted nor claimed pass through unchanged, so a process with both features off
/// does no work beyond one property lookup per payload.
/// </summary>
public sealed class PayloadCodec
{
    private readonly Func<IClaimStore> _store;

    public PayloadCodec(PayloadCipher? cipher, int claimThresholdBytes, Func<IClaimStore>? store)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(claimThresholdBytes);
        Cipher = cipher;
        ClaimThresholdBytes = claimThresholdBytes;
        _store = store ?? (() => new MissingClaimStore());
    }

    /// <summary>Neither encryption nor claim check.</summary>
    public static PayloadCodec Off { get; } = new(null, 0, null);

    public PayloadCipher? Cipher { get; }

    public int ClaimThresholdBytes { get; }

    public bool IsActive => Cipher is not null || ClaimThresholdBytes > 0;

    /// <summary>
    /// The payload as it should travel, and the claim to store first when it is too large to travel itself
    /// (the coordinator stores it in the same transaction as the outbox row that refers to it).
    /// </summary>
    public JsonElement Encode(Guid sagaId, JsonElement payload, out PayloadClaim? claim)
    {
        claim = null;
        if (!IsActive || payload.ValueKind == JsonValueKind.Undefined)
        {
            return payload;
        }

        var text = Cipher?.EncryptText(payload.GetRawText());
        if (ClaimThresholdBytes > 0)
        {
            text ??= payload.GetRawText();
            if (Encoding.UTF8.GetByteCount(text) > ClaimThresholdBytes)
            {
                claim = PayloadClaim.For(sagaId, text);
                return claim.Reference();
            }
        }

        if (text is null)
        {
            return payload;
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Encodes and stores the claim (if any) through the configured store.</summary>
    public async Task<JsonElement> EncodeAsync(Guid sagaId, JsonElement payload, CancellationToken cancellationToken)
    {
        var encoded = Encode(sagaId, payload, out var claim);
        if (claim is not null)
        {
            await _store().WriteAsync(claim, cancellationToken);
        }

        return encoded;
    }

    /// <summary>The plain payload: claims fetched and checked, envelopes decrypted. Anything else comes back as it is.</summary>
    public async ValueTask<JsonElement> DecodeAsync(JsonElement payload, CancellationToken cancellationToken)
    {
        if (payload.ValueKind != JsonValueKind.Object)
        {
            return payload;
        }

        if (PayloadClaim.IsReference(payload))
        {
            var (id, size, sha) = PayloadClaim.ReadReference(payload);
            var body = await _store().ReadAsync(id, cancellationToken)
                ?? throw new PayloadCodecException($"Claim '{id}' ({size} bytes) is not in the claim store: it was deleted or never stored");
            PayloadClaim.Verify(id, size, sha, body);
            using var document = JsonDocument.Parse(body);
            payload = document.RootElement.Clone();
        }

        if (!PayloadCipher.IsEnvelope(payload))
        {
            return payload;
        }

        return Cipher?.Decrypt(payload)
            ?? throw new PayloadCodecException($"Payload is encrypted but no keys are configured here ({PayloadOptions.Section}:Encryption:Keys)");
    }

    public async ValueTask<JsonElement?> DecodeAsync(JsonElement? payload, CancellationToken cancellationToken) =>
        payload is { } value ? await DecodeAsync(value, cancellationToken) : null;

    public async ValueTask<ExecuteStep> DecodeAsync(ExecuteStep message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return IsEncoded(message.Data) ? message with { Data = await DecodeAsync(message.Data, cancellationToken) } : message;
    }

    public async ValueTask<CompensateStep> DecodeAsync(CompensateStep message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return IsEncoded(message.Data) ? message with { Data = await DecodeAsync(message.Data, cancellationToken) } : message;
    }

    /// <summary>A reply as it should travel: a success's output encoded, every other reply unchanged.</summary>
    public async ValueTask<object> EncodeReplyAsync(object reply, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reply);
        if (!IsActive || reply is not StepSucceeded { Output: { } output } succeeded)
        {
            return reply;
        }

        return succeeded with { Output = await EncodeAsync(succeeded.SagaId, output, cancellationToken) };
    }

    /// <summary>True for a claim reference or an encrypted envelope: something <see cref="DecodeAsync(JsonElement, CancellationToken)"/> would change.</summary>
    public static bool IsEncoded(JsonElement payload) => PayloadClaim.IsReference(payload) || PayloadCipher.IsEnvelope(payload);
}
