using System.Collections.Concurrent;
using Sagas.Coordinator.Engine;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// The sagas this instance wrote last, as committed, so that a group-commit batch (PostgreSQL, optimistic) applies
/// their next event without reading them first: with the writes and their commit in one round trip, a reply to a saga
/// found here costs one round trip instead of two. A copy made stale by another instance's transition is caught by
/// the version check every saga row is written under: the batch fails, commits nothing, and its items go on alone,
/// reading. Then the cache empties and stays unused for a while, because instances that take turns on the same sagas
/// would otherwise pay for stale copies again and again. Finished sagas are not kept; a full cache starts over, so
/// copies of sagas that another instance finished do not stay. Each saga's entry is only touched under that saga's
/// lock (<see cref="SagaLocks"/>).
/// </summary>
public sealed class SagaStateCache(int capacity, TimeProvider clock)
{
    /// <summary>How long the cache stays unused after a stale copy failed a batch.</summary>
    public static readonly TimeSpan PauseAfterStale = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<Guid, SagaInstance> _sagas = new();
    private int _count;
    private long _pausedUntil;

    public bool Enabled => capacity > 0;

    /// <summary>Sagas held now.</summary>
    public int Count => Volatile.Read(ref _count);

    private bool Paused => clock.GetUtcNow().UtcTicks < Interlocked.Read(ref _pausedUntil);

    /// <summary>A copy of the saga as this instance last committed it, for the caller to change; null when not held.</summary>
    public SagaInstance? Find(Guid sagaId) =>
        Enabled && !Paused && _sagas.TryGetValue(sagaId, out var saga) ? saga.Clone() : null;

    /// <summary>Keeps a copy of the saga as just committed (or drops it, when finished).</summary>
    public void Remember(SagaInstance committed)
    {
        ArgumentNullException.ThrowIfNull(committed);
        if (!Enabled)
        {
            return;
        }

        if (committed.State.IsTerminal() || Paused)
        {
            Forget(committed.Id);
            return;
        }

        var copy = committed.Clone();
        if (_sagas.TryGetValue(committed.Id, out var held))
        {
            _sagas.TryUpdate(committed.Id, copy, held);
            return;
        }

        if (Count >= capacity)
        {
            // Full: start over. Copies of sagas that finished on another instance would otherwise stay for good.
            Clear();
        }

        if (_sagas.TryAdd(committed.Id, copy))
        {
            Interlocked.Increment(ref _count);
        }
    }

    /// <summary>Drops the saga's copy: its last write failed, or may not have committed.</summary>
    public void Forget(Guid sagaId)
    {
        if (_sagas.TryRemove(sagaId, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>A copy was stale (another instance wrote the saga): drop every copy and stop using them for a while.</summary>
    public void Stale()
    {
        Interlocked.Exchange(ref _pausedUntil, (clock.GetUtcNow() + PauseAfterStale).UtcTicks);
        Clear();
    }

    private void Clear()
    {
        foreach (var id in _sagas.Keys)
        {
            Forget(id);
        }
    }
}
