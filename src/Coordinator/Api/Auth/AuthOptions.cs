namespace Sagas.Coordinator.Api.Auth;

/// <summary>Access control, bound from <c>Sagas:Auth</c>.</summary>
public sealed class AuthOptions
{
    /// <summary>False turns access control off: every caller is an anonymous Admin. Only for local demos.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Configured API keys, sent in the <c>X-Api-Key</c> header.</summary>
    public List<ApiKeyOptions> ApiKeys { get; set; } = [];

    /// <summary>Optional JWT bearer tokens (an OpenID Connect authority, or a shared signing key).</summary>
    public JwtOptions Jwt { get; set; } = new();
}

public sealed class ApiKeyOptions
{
    /// <summary>Who the key belongs to; recorded as the actor of what the key does.</summary>
    public string Name { get; set; } = "";

    /// <summary>The secret itself, at least <see cref="ApiKeyStore.MinimumKeyLength"/> characters. Only its SHA-256 is kept in memory.</summary>
    public string Key { get; set; } = "";

    /// <summary>Reader, Operator or Admin.</summary>
    public string Role { get; set; } = "";

    /// <summary>When set, the key sees and starts only this tenant's sagas.</summary>
    public string? Tenant { get; set; }
}

public sealed class JwtOptions
{
    /// <summary>OpenID Connect issuer; its signing keys are fetched from its discovery document.</summary>
    public string? Authority { get; set; }

    /// <summary>Expected <c>aud</c>; not checked when unset.</summary>
    public string? Audience { get; set; }

    /// <summary>Expected <c>iss</c> for tokens signed with <see cref="SigningKey"/>; not checked when unset.</summary>
    public string? Issuer { get; set; }

    /// <summary>Symmetric HMAC-SHA256 key (at least 32 bytes of UTF-8) instead of an authority, for tests and closed set-ups.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Require https for the authority's metadata.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(SigningKey);
}
