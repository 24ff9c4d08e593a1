namespace Sagas.Participants.Payloads;

/// <summary>Where claimed payloads live. Writes are idempotent (the id is content-derived); reads return null for an unknown id.</summary>
public interface IClaimStore
{
    Task<string?> ReadAsync(string id, CancellationToken cancellationToken);

    Task WriteAsync(PayloadClaim claim, CancellationToken cancellationToken);
}

/// <summary>The store of a process that has none configured: any claim is an error that names the missing setting.</summary>
internal sealed class MissingClaimStore : IClaimStore
{
    private const string Message =
        "A payload arrived as a claim reference, or is large enough to need one, but no claim store is configured: set " +
        PayloadOptions.Section + ":ClaimCheck:Provider and :ConnectionString to the coordinator's database";

    public Task<string?> ReadAsync(string id, CancellationToken cancellationToken) => throw new PayloadCodecException(Message);

    public Task WriteAsync(PayloadClaim claim, CancellationToken cancellationToken) => throw new PayloadCodecException(Message);
}
