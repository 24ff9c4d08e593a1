using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Definitions;

/// <summary>
/// Registered definitions, stored in the database so every coordinator instance sees the same versions.
/// A version is immutable once stored: running sagas stay pinned to theirs.
/// </summary>
public sealed class DefinitionRegistry(SagasDbFactory dbFactory, TimeProvider clock)
{
    /// <summary>
    /// How long the newest version of a name is taken from memory for starts that pin none. Versions registered
    /// through this instance count at once; one registered through another instance is picked up within this time.
    /// </summary>
    public static readonly TimeSpan NewestFreshFor = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<(string Name, int Version), SagaDefinition> _cache = new();
    private readonly ConcurrentDictionary<string, (SagaDefinition Definition, DateTimeOffset CheckedAt)> _newest = new(StringComparer.Ordinal);

    /// <summary>Stores a new version; the same content again is a no-op, different content under a stored version is refused.</summary>
    public async Task<RegisterResult> RegisterAsync(SagaDefinition definition, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var errors = DefinitionValidator.Validate(definition);
        if (errors.Count > 0)
        {
            return new RegisterResult(RegisterOutcome.Invalid, errors);
        }

        var json = DefinitionJson.Write(definition);
        await using var db = dbFactory.Create();
        var existing = await db.Definitions.AsNoTracking()
            .FirstOrDefaultAsync(d => d.Name == definition.Name && d.Version == definition.Version, ct);
        if (existing is not null)
        {
            var same = string.Equals(Normalize(existing.Json), Normalize(json), StringComparison.Ordinal);
            if (same)
            {
                Remember(definition);
                return new RegisterResult(RegisterOutcome.Unchanged, []);
            }

            return new RegisterResult(RegisterOutcome.VersionExists,
                [new DefinitionError("version", $"{definition.Key} is already registered with different content; register it as a new version")]);
        }

        db.Definitions.Add(new DefinitionRecord { Name = definition.Name, Version = definition.Version, Json = json, RegisteredAt = clock.GetUtcNow() });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // Another instance registered the same version at the same moment: compare with what won.
            return await RegisterAsync(definition, ct);
        }

        Remember(definition);
        return new RegisterResult(RegisterOutcome.Registered, []);
    }

    /// <summary>A pinned version, or the newest when <paramref name="version"/> is null; null when unknown.</summary>
    public async Task<SagaDefinition?> FindAsync(string name, int? version, CancellationToken ct)
    {
        if (version is { } v && _cache.TryGetValue((name, v), out var cached))
        {
            return cached;
        }

        if (version is null && _newest.TryGetValue(name, out var newest) && clock.GetUtcNow() - newest.CheckedAt < NewestFreshFor)
        {
            return newest.Definition;
        }

        await using var db = dbFactory.Create();
        var query = db.Definitions.AsNoTracking().Where(d => d.Name == name);
        query = version is { } pinned ? query.Where(d => d.Version == pinned) : query.OrderByDescending(d => d.Version);
        var record = await query.FirstOrDefaultAsync(ct);
        if (record is null)
        {
            return null;
        }

        var definition = _cache.TryGetValue((record.Name, record.Version), out var known) ? known : DefinitionJson.ParseOrThrow(record.Json);
        _cache[(definition.Name, definition.Version)] = definition;
        if (version is null)
        {
            _newest[name] = (definition, clock.GetUtcNow());
        }

        return definition;
    }

    public async Task<SagaDefinition> GetAsync(string name, int version, CancellationToken ct) =>
        await FindAsync(name, version, ct) ?? throw new InvalidOperationException($"Definition {name}@v{version} is not registered");

    public async Task<IReadOnlyList<SagaDefinition>> ListAsync(string? name, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        var query = db.Definitions.AsNoTracking();
        if (name is not null)
        {
            query = query.Where(d => d.Name == name);
        }

        var records = await query.OrderBy(d => d.Name).ThenBy(d => d.Version).ToListAsync(ct);
        return records.ConvertAll(r => DefinitionJson.ParseOrThrow(r.Json));
    }

    /// <summary>Caches a version this instance stored (or found stored), and makes it the newest when it is.</summary>
    private void Remember(SagaDefinition definition)
    {
        _cache[(definition.Name, definition.Version)] = definition;
        _newest.AddOrUpdate(
            definition.Name,
            _ => (definition, DateTimeOffset.MinValue),
            (_, current) => definition.Version > current.Definition.Version ? (definition, current.CheckedAt) : current);
    }

    private static string Normalize(string json) => DefinitionJson.Write(DefinitionJson.ParseOrThrow(json));
}

public enum RegisterOutcome
{
    Registered,
    Unchanged,
    Invalid,
    VersionExists,
}

public sealed record RegisterResult(RegisterOutcome Outcome, IReadOnlyList<DefinitionError> Errors);
