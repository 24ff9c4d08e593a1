using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;

namespace Sagas.Coordinator.Api.Auth;

/// <summary>
/// The valid API keys, as SHA-256 hashes only: configured keys are hashed at start-up and the plain text is
/// not kept; generated keys are stored hashed in the database. Lookups compare in constant time.
/// </summary>
public sealed class ApiKeyStore
{
    public const int MinimumKeyLength = 16;

    private ImmutableArray<ApiKey> _keys = [];

    public int Count => _keys.Length;

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public void Add(ApiKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        ImmutableInterlocked.Update(ref _keys, keys => keys.Add(key));
    }

    /// <summary>The key whose hash matches, or null. Every stored hash is compared, so the time taken does not depend on which one matches.</summary>
    public ApiKey? Find(string presented)
    {
        ArgumentNullException.ThrowIfNull(presented);
        var hash = Hash(presented);
        ApiKey? match = null;
        foreach (var key in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(key.Hash, hash))
            {
                match ??= key;
            }
        }

        return match;
    }

    /// <summary>Checks and hashes the configured keys; a bad entry stops start-up with the index and field named.</summary>
    public static IReadOnlyList<ApiKey> FromOptions(IReadOnlyList<ApiKeyOptions> configured)
    {
        ArgumentNullException.ThrowIfNull(configured);
        var keys = new List<ApiKey>();
        var problems = new List<string>();
        for (var i = 0; i < configured.Count; i++)
        {
            var entry = configured[i];
            var at = $"Sagas:Auth:ApiKeys:{i}";
            var role = Policies.Normalize(entry.Role);
            if (string.IsNullOrWhiteSpace(entry.Name))
            {
                problems.Add($"{at}:Name is required");
            }

            if (string.IsNullOrEmpty(entry.Key) || entry.Key.Length < MinimumKeyLength)
            {
                problems.Add($"{at}:Key must be at least {MinimumKeyLength} characters");
            }

            if (role is null)
            {
                problems.Add($"{at}:Role must be one of {string.Join(", ", Policies.Roles)}, not '{entry.Role}'");
            }

            if (problems.Count == 0)
            {
                var hash = Hash(entry.Key);
                if (keys.Any(k => k.Name == entry.Name.Trim() || CryptographicOperations.FixedTimeEquals(k.Hash, hash)))
                {
                    problems.Add($"{at}: the name or the key is used twice");
                }

                keys.Add(new ApiKey(entry.Name.Trim(), hash, role!, string.IsNullOrWhiteSpace(entry.Tenant) ? null : entry.Tenant.Trim()));
            }
        }

        return problems.Count == 0 ? keys : throw new InvalidOperationException("Invalid API key configuration: " + string.Join("; ", problems));
    }
}

/// <summary>A valid key: its name (the actor), the SHA-256 of the secret, its role and optional tenant scope.</summary>
public sealed record ApiKey(string Name, byte[] Hash, string Role, string? Tenant);
