using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Api;

/// <summary>Search sagas (keyset pages, newest first) and count them per state. A tenant-scoped caller sees only its tenant.</summary>
public static class SagaQueries
{
    public static async Task<Results<Ok<SagaPage>, ProblemHttpResult>> SearchSagas(
        HttpContext http,
        SagasDbFactory dbFactory,
        string? state,
        string? definition,
        string? businessKey,
        string? tenant,
        string? from,
        string? to,
        string? limit,
        string? cursor,
        CancellationToken ct)
    {
        var errors = new List<(string Field, string Message)>();
        var filter = Filter.Parse(state, definition, businessKey, tenant, from, to, errors);
        var take = Paging.Limit(limit, errors);
        var after = Paging.DecodeCursor(cursor, errors);
        if (errors.Count > 0)
        {
            return Problems.BadRequest("The search is invalid", errors.ToArray());
        }

        if (!filter.TryScope(http.TenantScope(), out var forbidden))
        {
            return forbidden!;
        }

        await using var db = dbFactory.Create();
        var query = filter.Apply(db.Sagas.AsNoTracking());
        if (after is not null)
        {
            var (at, id) = (after.Time, after.Id);
            // The leading "<= at" is redundant for the result but lets the database bound the index range; without
            // it an OR-only keyset condition scans from the newest row down to the cursor (measured in bench/search).
            query = query.Where(s => s.CreatedAt <= at && (s.CreatedAt < at || (s.CreatedAt == at && s.Id < id)));
        }

        var rows = await query
            .OrderByDescending(s => s.CreatedAt).ThenByDescending(s => s.Id)
            .Take(take + 1)
            .Select(s => new SagaSummary(s.Id, s.Definition, s.Version, s.State, s.BusinessKey, s.Tenant, s.CreatedAt, s.UpdatedAt, s.CompletedAt, s.Reason))
            .ToListAsync(ct);
        var next = rows.Count > take ? Paging.EncodeCursor(new Cursor(rows[take - 1].CreatedAt, rows[take - 1].SagaId, null)) : null;
        return TypedResults.Ok(new SagaPage(rows.Take(take).ToList(), next));
    }

    public static async Task<Results<Ok<SagaCounts>, ProblemHttpResult>> CountSagas(
        HttpContext http, SagasDbFactory dbFactory, string? definition, string? tenant, string? from, string? to, CancellationToken ct)
    {
        var errors = new List<(string Field, string Message)>();
        var filter = Filter.Parse(null, definition, null, tenant, from, to, errors);
        if (errors.Count > 0)
        {
            return Problems.BadRequest("The count is invalid", errors.ToArray());
        }

        if (!filter.TryScope(http.TenantScope(), out var forbidden))
        {
            return forbidden!;
        }

        await using var db = dbFactory.Create();
        var grouped = await filter.Apply(db.Sagas.AsNoTracking())
            .GroupBy(s => s.State)
            .Select(g => new { State = g.Key, Count = g.Count() })
            .ToListAsync(ct);
        var byState = Enum.GetValues<SagaState>().ToDictionary(s => s.ToString(), s => grouped.Where(g => g.State == s).Sum(g => g.Count));
        return TypedResults.Ok(new SagaCounts(byState.Values.Sum(), byState));
    }

    private sealed class Filter
    {
        private List<SagaState> _states = [];
        private string? _definition;
        private string? _businessKey;
        private string? _tenant;
        private DateTimeOffset? _from;
        private DateTimeOffset? _to;

        public static Filter Parse(string? state, string? definition, string? businessKey, string? tenant, string? from, string? to, List<(string Field, string Message)> errors)
        {
            var filter = new Filter
            {
                _definition = Paging.Text("definition", definition, 100, errors),
                _businessKey = Paging.Text("businessKey", businessKey, 200, errors),
                _tenant = Paging.Text("tenant", tenant, 100, errors),
                _from = Paging.Time("from", from, errors),
                _to = Paging.Time("to", to, errors),
            };
            foreach (var name in (state ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (Enum.TryParse<SagaState>(name, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(name, out _))
                {
                    filter._states.Add(parsed);
                }
                else
                {
                    errors.Add(("state", $"'{name}' is not a state; use one or more (comma-separated) of {string.Join(", ", Enum.GetNames<SagaState>())}"));
                }
            }

            if (filter._from is { } f && filter._to is { } t && f > t)
            {
                errors.Add(("from", "must not be after 'to'"));
            }

            filter._states = filter._states.Distinct().ToList();
            return filter;
        }

        /// <summary>A scoped caller is confined to its tenant; asking for another one is refused rather than answered empty.</summary>
        public bool TryScope(string? scope, out ProblemHttpResult? forbidden)
        {
            forbidden = null;
            if (scope is null)
            {
                return true;
            }

            if (_tenant is not null && !string.Equals(_tenant, scope, StringComparison.Ordinal))
            {
                forbidden = Problems.Forbidden($"this caller may only see tenant '{scope}'");
                return false;
            }

            _tenant = scope;
            return true;
        }

        public IQueryable<SagaInstance> Apply(IQueryable<SagaInstance> query)
        {
            if (_states.Count == 1)
            {
                var only = _states[0];
                query = query.Where(s => s.State == only);
            }
            else if (_states.Count > 1)
            {
                var states = _states;
                query = query.Where(s => states.Contains(s.State));
            }

            if (_definition is { } definition)
            {
                query = query.Where(s => s.Definition == definition);
            }

            if (_businessKey is { } businessKey)
            {
                query = query.Where(s => s.BusinessKey == businessKey);
            }

            if (_tenant is { } tenant)
            {
                query = query.Where(s => s.Tenant == tenant);
            }

            if (_from is { } from)
            {
                query = query.Where(s => s.CreatedAt >= from);
            }

            if (_to is { } to)
            {
                query = query.Where(s => s.CreatedAt < to);
            }

            return query;
        }
    }
}

public sealed record SagaSummary(
    Guid SagaId,
    string Definition,
    int Version,
    SagaState State,
    string? BusinessKey,
    string? Tenant,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt,
    string? Reason);

/// <summary>One page of results; pass <see cref="NextCursor"/> as <c>cursor</c> for the next page (null on the last one).</summary>
public sealed record SagaPage(IReadOnlyList<SagaSummary> Items, string? NextCursor);

public sealed record SagaCounts(int Total, IReadOnlyDictionary<string, int> States);
