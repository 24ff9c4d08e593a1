using System.Security.Cryptography;
using System.Text;

namespace Sagas.Coordinator.Api;

/// <summary>
/// Turns a client's <c>Idempotency-Key</c> into a saga id, so the same key twice names the same saga and starts it
/// once. Name-based UUID (RFC 9562 version 5: SHA-1 of a namespace and the name), with the tenant in the name so
/// two tenants' keys never collide.
/// </summary>
public static class IdempotencyKeys
{
    // Fixed for this purpose; changing it would change every derived saga id.
    private static readonly Guid Namespace = new("5f0e9e4c-2f7a-4c1b-9d0e-3a6c1b8e7d21");

    public static Guid SagaId(string? tenant, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var name = Encoding.UTF8.GetBytes((tenant ?? "") + "\n" + key);
        var input = new byte[16 + name.Length];
        Namespace.TryWriteBytes(input, bigEndian: true, out _);
        name.CopyTo(input, 16);
#pragma warning disable CA5350 // SHA-1 is what UUID version 5 specifies; this is an identifier, not a signature.
        var hash = SHA1.HashData(input);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}
