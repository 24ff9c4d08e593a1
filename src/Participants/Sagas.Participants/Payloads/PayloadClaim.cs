using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Sagas.Participants.Payloads;

/// <summary>
/// A payload stored once, out of the message, and the reference that travels instead:
/// <c>{"$claim":{"id":..,"size":..,"sha256":..}}</c>. The body is what would have travelled (the ciphertext envelope
/// when encryption is on), so the store never holds more than the message would have shown.
/// </summary>
public sealed record PayloadClaim(string Id, Guid SagaId, int Size, string Sha256, string Body)
{
    public const string Marker = "$claim";

    /// <summary>A claim for <paramref name="body"/>: the id is the saga and the body's hash, so storing the same body twice is a no-op.</summary>
    public static PayloadClaim For(Guid sagaId, string body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var bytes = Encoding.UTF8.GetBytes(body);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return new PayloadClaim($"{sagaId:N}-{sha}", sagaId, bytes.Length, sha, body);
    }

    public static bool IsReference(JsonElement payload) =>
        payload.ValueKind == JsonValueKind.Object && payload.TryGetProperty(Marker, out _);

    public JsonElement Reference()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartObject(Marker);
            writer.WriteString("id", Id);
            writer.WriteNumber("size", Size);
            writer.WriteString("sha256", Sha256);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.ToArray());
        return document.RootElement.Clone();
    }

    /// <summary>Reads a reference's fields; a malformed one is a <see cref="PayloadCodecException"/>.</summary>
    public static (string Id, int Size, string Sha256) ReadReference(JsonElement payload)
    {
        if (!payload.TryGetProperty(Marker, out var reference) || reference.ValueKind != JsonValueKind.Object
            || !reference.TryGetProperty("id", out var id) || id.GetString() is not { Length: > 0 } idText
            || !reference.TryGetProperty("size", out var size) || !size.TryGetInt32(out var sizeValue)
            || !reference.TryGetProperty("sha256", out var sha) || sha.GetString() is not { Length: 64 } shaText)
        {
            throw new PayloadCodecException("Claim reference is malformed: it needs id, size and sha256");
        }

        return (idText, sizeValue, shaText);
    }

    /// <summary>Checks a fetched body against its reference, so a truncated or replaced claim never reaches a handler.</summary>
    public static void Verify(string id, int size, string sha256, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (bytes.Length != size || !string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new PayloadCodecException($"Claim '{id}' does not match its reference (size {bytes.Length} vs {size}, sha256 {actual} vs {sha256})");
        }
    }
}
