namespace Sagas.Participants.Payloads;

/// <summary>
/// Payload encryption and claim check (<c>Sagas:Payloads</c>). The coordinator and every participant read the same
/// section; both features are off until configured.
/// </summary>
public sealed class PayloadOptions
{
    public const string Section = "Sagas:Payloads";

    public EncryptionOptions Encryption { get; set; } = new();

    public ClaimCheckOptions ClaimCheck { get; set; } = new();

    /// <summary>Lowest API role that sees decrypted saga data when encryption is on (Reader, Operator or Admin).</summary>
    public string PlaintextRole { get; set; } = "Admin";
}

public sealed class EncryptionOptions
{
    /// <summary>Keys by id, oldest first. Every listed key decrypts; <see cref="ActiveKeyId"/> (default: the last one) encrypts.</summary>
    public List<PayloadKey> Keys { get; set; } = [];

    /// <summary>The key that encrypts new payloads; null takes the last listed key.</summary>
    public string? ActiveKeyId { get; set; }
}

/// <summary>One AES key: an id (at most 64 characters, kept in every envelope) and 16, 24 or 32 random bytes as base64.</summary>
public sealed class PayloadKey
{
    public string Id { get; set; } = "";

    public string Key { get; set; } = "";
}

public sealed class ClaimCheckOptions
{
    /// <summary>Payloads whose JSON is larger than this many UTF-8 bytes travel as a reference; 0 turns the claim check off.</summary>
    public int ThresholdBytes { get; set; }

    /// <summary>Database (the coordinator's <c>payload_claims</c> table) or S3 (an S3-compatible bucket).</summary>
    public ClaimStoreKind Store { get; set; } = ClaimStoreKind.Database;

    public S3ClaimOptions S3 { get; set; } = new();

    /// <summary>
    /// Where a participant reads (and writes) claims: the coordinator's database, given as a provider (Postgres or
    /// Sqlite) and a connection string. The coordinator itself always uses its own database and ignores these
    /// unless set, in which case it uses them too.
    /// </summary>
    public string? Provider { get; set; }

    public string? ConnectionString { get; set; }
}

public enum ClaimStoreKind
{
    Database,
    S3,
}

/// <summary>
/// An S3-compatible bucket for claims. Credentials come from <see cref="AccessKey"/>/<see cref="SecretKey"/> when
/// set, otherwise from the AWS SDK's default chain (environment, profile, instance role).
/// </summary>
public sealed class S3ClaimOptions
{
    public string BucketName { get; set; } = "";

    /// <summary>Key prefix of every claim object.</summary>
    public string Prefix { get; set; } = "sagas-claims/";

    /// <summary>Endpoint of an S3-compatible service (MinIO, Ceph, ...); null for AWS itself.</summary>
    public string? ServiceUrl { get; set; }

    public string? Region { get; set; }

    /// <summary>Path-style addressing (bucket in the path), which most S3-compatible services need.</summary>
    public bool ForcePathStyle { get; set; } = true;

    public string? AccessKey { get; set; }

    public string? SecretKey { get; set; }
}
