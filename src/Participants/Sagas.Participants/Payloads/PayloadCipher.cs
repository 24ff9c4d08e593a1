using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Sagas.Participants.Payloads;

/// <summary>
/// AES-GCM over a payload's JSON text. The result is itself a JSON object,
/// <c>{"$enc":{"kid":..,"nonce":..,"tag":..,"ct":..}}</c>, so it fits wherever the plain payload did (a message
/// field, a JSON column). The key id travels in the envelope: after a rotation the old keys still decrypt while the
/// active one encrypts. The key id is authenticated too (additional data), so an envelope cannot be relabelled.
/// </summary>
public sealed class PayloadCipher
{
    public const string Marker = "$enc";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const string EnvelopePrefix = "{\"" + Marker + "\":";

    private readonly Dictionary<string, byte[]> _keys;

    private PayloadCipher(Dictionary<string, byte[]> keys, string activeKeyId)
    {
        _keys = keys;
        ActiveKeyId = activeKeyId;
    }

    public string ActiveKeyId { get; }

    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    /// <summary>The cipher for <paramref name="options"/>, or null when no key is configured (encryption off).</summary>
    public static PayloadCipher? FromOptions(EncryptionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Keys.Count == 0)
        {
            return null;
        }

        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var key in options.Keys)
        {
            if (string.IsNullOrWhiteSpace(key.Id) || key.Id.Length > 64)
            {
                throw new InvalidOperationException($"{PayloadOptions.Section}:Encryption:Keys: every key needs an id of 1 to 64 characters");
            }

            if (!keys.TryAdd(key.Id, DecodeKey(key)))
            {
                throw new InvalidOperationException($"{PayloadOptions.Section}:Encryption:Keys: key id '{key.Id}' is listed twice");
            }
        }

        var active = options.ActiveKeyId ?? options.Keys[^1].Id;
        if (!keys.ContainsKey(active))
        {
            throw new InvalidOperationException($"{PayloadOptions.Section}:Encryption:ActiveKeyId '{active}' is not one of the listed keys");
        }

        return new PayloadCipher(keys, active);
    }

    /// <summary>True for text this cipher wrote (cheap: a prefix test, no parse).</summary>
    public static bool IsEnvelope(string text) => text.StartsWith(EnvelopePrefix, StringComparison.Ordinal);

    public static bool IsEnvelope(JsonElement payload) =>
        payload.ValueKind == JsonValueKind.Object && payload.TryGetProperty(Marker, out _);

    /// <summary>Encrypts JSON text with the active key.</summary>
    public string EncryptText(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var plain = Encoding.UTF8.GetBytes(json);
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var cipher = new byte[plain.Length];
        var tag = new byte[TagSize];
        using (var aes = new AesGcm(_keys[ActiveKeyId], TagSize))
        {
            aes.Encrypt(nonce, plain, cipher, tag, AssociatedData(ActiveKeyId));
        }

        using var buffer = new MemoryStream(cipher.Length * 4 / 3 + 128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartObject(Marker);
            writer.WriteString("kid", ActiveKeyId);
            writer.WriteBase64String("nonce", nonce);
            writer.WriteBase64String("tag", tag);
            writer.WriteBase64String("ct", cipher);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>Decrypts an envelope; any other text (stored before encryption was turned on) comes back as it is.</summary>
    public string DecryptText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!IsEnvelope(text))
        {
            return text;
        }

        using var document = ParseEnvelope(text);
        return DecryptEnvelope(document.RootElement.GetProperty(Marker));
    }

    public JsonElement Encrypt(JsonElement payload) => Parse(EncryptText(payload.GetRawText()));

    /// <summary>The plain payload of an envelope; a payload that is not one comes back unchanged.</summary>
    public JsonElement Decrypt(JsonElement payload) =>
        payload.ValueKind == JsonValueKind.Object && payload.TryGetProperty(Marker, out var envelope)
            ? Parse(DecryptEnvelope(envelope))
            : payload;

    private string DecryptEnvelope(JsonElement envelope)
    {
        if (envelope.ValueKind != JsonValueKind.Object
            || !envelope.TryGetProperty("kid", out var kidElement) || kidElement.GetString() is not { } kid
            || !TryBytes(envelope, "nonce", out var nonce) || nonce.Length != NonceSize
            || !TryBytes(envelope, "tag", out var tag) || tag.Length != TagSize
            || !TryBytes(envelope, "ct", out var cipher))
        {
            throw new PayloadCodecException("Encrypted payload is malformed: it needs kid, nonce (12 bytes), tag (16 bytes) and ct");
        }

        if (!_keys.TryGetValue(kid, out var key))
        {
            throw new PayloadCodecException(
                $"Encrypted payload uses key id '{kid}', which is not configured here (known: {string.Join(", ", _keys.Keys)}); add it to {PayloadOptions.Section}:Encryption:Keys");
        }

        var plain = new byte[cipher.Length];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(nonce, cipher, tag, plain, AssociatedData(kid));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new PayloadCodecException($"Encrypted payload (key id '{kid}') failed authentication: it was altered or encrypted with a different key of that id", ex);
        }

        return Encoding.UTF8.GetString(plain);
    }

    private static JsonDocument ParseEnvelope(string text)
    {
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new PayloadCodecException("Encrypted payload is not valid JSON", ex);
        }
    }

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static bool TryBytes(JsonElement envelope, string name, out byte[] bytes)
    {
        bytes = [];
        return envelope.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.TryGetBytesFromBase64(out bytes!);
    }

    private static byte[] AssociatedData(string kid) => Encoding.UTF8.GetBytes("sagas-payload-v1:" + kid);

    private static byte[] DecodeKey(PayloadKey key)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(key.Key ?? "");
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{PayloadOptions.Section}:Encryption:Keys: key '{key.Id}' is not valid base64", ex);
        }

        return bytes.Length is 16 or 24 or 32
            ? bytes
            : throw new InvalidOperationException($"{PayloadOptions.Section}:Encryption:Keys: key '{key.Id}' has {bytes.Length} bytes; AES needs 16, 24 or 32");
    }
}
