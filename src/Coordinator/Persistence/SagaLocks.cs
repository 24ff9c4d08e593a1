namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Serializes work on one saga inside this process (striped locks), so concurrent messages for the same
/// saga queue up instead of failing the version check. Across processes the database decides.
/// SQLite has a single writer, so there one lock guards every write.
/// </summary>
public sealed class SagaLocks
{
    private readonly SemaphoreSlim[] _stripes;

    public SagaLocks(SagasDbFactory dbFactory)
    {
        ArgumentNullException.ThrowIfNull(dbFactory);
        var count = dbFactory.Provider == DatabaseProvider.Sqlite ? 1 : 256;
        _stripes = Enumerable.Range(0, count).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    }

    public async Task<Releaser> AcquireAsync(Guid sagaId, CancellationToken ct)
    {
        var stripe = _stripes[(sagaId.GetHashCode() & int.MaxValue) % _stripes.Length];
        await stripe.WaitAsync(ct);
        return new Releaser(stripe);
    }

    public readonly struct Releaser(SemaphoreSlim stripe) : IDisposable
    {
        public void Dispose() => stripe.Release();
    }
}
