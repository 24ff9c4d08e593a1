using Microsoft.EntityFrameworkCore;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Persistence;

/// <summary>The claim store of the coordinator's own database, through its DbContext (every provider, SQL Server too).</summary>
public sealed class CoordinatorClaimStore(SagasDbFactory dbFactory, TimeProvider clock) : IClaimStore
{
    public async Task<string?> ReadAsync(string id, CancellationToken cancellationToken)
    {
        await using var db = dbFactory.Create();
        return await db.Claims.AsNoTracking().Where(c => c.Id == id).Select(c => c.Body).FirstOrDefaultAsync(cancellationToken);
    }

    public async Task WriteAsync(PayloadClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        await using var db = dbFactory.Create();
        if (await db.Claims.AnyAsync(c => c.Id == claim.Id, cancellationToken))
        {
            return;
        }

        db.Claims.Add(ToRecord(claim, clock.GetUtcNow()));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // A concurrent writer storing the same content first is a success: the id is the content.
            if (!await StoredAsync(claim.Id, cancellationToken))
            {
                throw;
            }
        }
    }

    public static ClaimRecord ToRecord(PayloadClaim claim, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return new ClaimRecord { Id = claim.Id, SagaId = claim.SagaId, Size = claim.Size, Sha256 = claim.Sha256, Body = claim.Body, CreatedAtTicks = now.UtcTicks };
    }

    private async Task<bool> StoredAsync(string id, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        return await db.Claims.AnyAsync(c => c.Id == id, ct);
    }
}
