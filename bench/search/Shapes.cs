using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Api;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;

namespace Sagas.Bench.Search;

/// <summary>One request's filters. <see cref="Url"/> is what the benchmark sends; <see cref="ToQueryable"/> mirrors the route's LINQ so EF Core produces the same SQL for EXPLAIN.</summary>
internal sealed record Query(
    bool Compensations,
    string? State = null,
    string? Definition = null,
    string? BusinessKey = null,
    string? Tenant = null,
    DateTime? From = null,
    DateTime? To = null,
    string? Outcome = null,
    string? Step = null,
    string? Cursor = null)
{
    public string Url()
    {
        var url = new StringBuilder(Compensations ? "/api/compensations?" : "/api/sagas?");
        Add("state", State);
        Add("definition", Definition);
        Add("businessKey", BusinessKey);
        Add("tenant", Tenant);
        Add("from", From?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        Add("to", To?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        Add("outcome", Outcome);
        Add("step", Step);
        Add("cursor", Cursor);
        return url.ToString().TrimEnd('?', '&');

        void Add(string name, string? value)
        {
            if (value is not null)
            {
                url.Append(name).Append('=').Append(Uri.EscapeDataString(value)).Append('&');
            }
        }
    }

    /// <summary>The same LINQ as SagaQueries.SearchSagas / CompensationRoutes.SearchCompensations (default limit 50, so Take(51)).</summary>
    public IQueryable<object> ToQueryable(SagasDbContext db)
    {
        var take = Paging.DefaultLimit;
        var errors = new List<(string Field, string Message)>();
        var after = Paging.DecodeCursor(Cursor, errors);
        DateTimeOffset? fromTime = From is { } f ? new DateTimeOffset(f, TimeSpan.Zero) : null;
        DateTimeOffset? toTime = To is { } t ? new DateTimeOffset(t, TimeSpan.Zero) : null;
        if (Compensations)
        {
            var query = db.Compensations.AsNoTracking();
            if (Outcome is { } wanted)
            {
                query = query.Where(c => c.Outcome == wanted);
            }

            if (Definition is { } definitionName)
            {
                query = query.Where(c => c.Definition == definitionName);
            }

            if (Step is { } stepName)
            {
                query = query.Where(c => c.Step == stepName);
            }

            if (fromTime is { } from)
            {
                query = query.Where(c => c.UpdatedAt >= from);
            }

            if (toTime is { } to)
            {
                query = query.Where(c => c.UpdatedAt < to);
            }

            if (after is not null)
            {
                var (at, id, afterStep) = (after.Time, after.Id, after.Text ?? "");
                query = query.Where(c => c.UpdatedAt <= at && (c.UpdatedAt < at
                    || (c.UpdatedAt == at && (c.SagaId < id || (c.SagaId == id && string.Compare(c.Step, afterStep) < 0)))));
            }

            return query
                .OrderByDescending(c => c.UpdatedAt).ThenByDescending(c => c.SagaId).ThenByDescending(c => c.Step)
                .Take(take + 1)
                .Select(c => new CompensationView(c.SagaId, c.Step, c.Definition, c.Version, c.Trigger, c.Attempts, c.Outcome, c.LastError, c.Tenant, c.StartedAt, c.UpdatedAt, c.CompletedAt));
        }

        var sagas = db.Sagas.AsNoTracking();
        if (State is { } stateName)
        {
            var only = Enum.Parse<SagaState>(stateName);
            sagas = sagas.Where(s => s.State == only);
        }

        if (Definition is { } definition)
        {
            sagas = sagas.Where(s => s.Definition == definition);
        }

        if (BusinessKey is { } businessKey)
        {
            sagas = sagas.Where(s => s.BusinessKey == businessKey);
        }

        if (Tenant is { } tenant)
        {
            sagas = sagas.Where(s => s.Tenant == tenant);
        }

        if (fromTime is { } sagaFrom)
        {
            sagas = sagas.Where(s => s.CreatedAt >= sagaFrom);
        }

        if (toTime is { } sagaTo)
        {
            sagas = sagas.Where(s => s.CreatedAt < sagaTo);
        }

        if (after is not null)
        {
            var (at, id) = (after.Time, after.Id);
            sagas = sagas.Where(s => s.CreatedAt <= at && (s.CreatedAt < at || (s.CreatedAt == at && s.Id < id)));
        }

        return sagas
            .OrderByDescending(s => s.CreatedAt).ThenByDescending(s => s.Id)
            .Take(take + 1)
            .Select(s => new SagaSummary(s.Id, s.Definition, s.Version, s.State, s.BusinessKey, s.Tenant, s.CreatedAt, s.UpdatedAt, s.CompletedAt, s.Reason));
    }
}

/// <summary>A query shape: a name and a generator of concrete requests (random tenant, day, key... per request). DeepPages > 0 follows nextCursor that many pages.</summary>
internal sealed record Shape(string Name, Func<Random, Query> Next, int DeepPages = 0, bool Slow = false);

/// <summary>Cursors pointing deep into a result set (as after following nextCursor for thousands of pages), computed from the database.</summary>
internal sealed record DeepCursors(IReadOnlyList<string> Sagas, IReadOnlyList<string> FailedSagas, IReadOnlyList<string> SucceededCompensations);

internal static class Shapes
{
    public static List<Shape> All(IReadOnlyList<string> businessKeys, DateTime oldestUtc, DateTime newestUtc, DeepCursors deep)
    {
        var firstDay = oldestUtc.Date.AddDays(1);
        var days = Math.Max(1, (int)(newestUtc.Date - firstDay).TotalDays);
        var defs = Loader.Definitions;
        return
        [
            new("sagas: no filter (first page)", _ => new Query(false)),
            new("sagas: state=Failed", _ => new Query(false, State: "Failed")),
            new("sagas: definition=X", r => new Query(false, Definition: defs[r.Next(defs.Length)].Name)),
            new("sagas: businessKey=exact", r => new Query(false, BusinessKey: businessKeys[r.Next(businessKeys.Count)])),
            new("sagas: tenant=T", r => new Query(false, Tenant: Loader.Tenants[r.Next(Loader.Tenants.Length)])),
            new("sagas: from/to (one day)", r => Day(r, false)),
            new("sagas: tenant=T&state=Failed", r => new Query(false, State: "Failed", Tenant: Loader.Tenants[r.Next(Loader.Tenants.Length)])),
            new("sagas: no filter, 50 pages deep", _ => new Query(false), DeepPages: 50),
            new("sagas: cursor deep (2.5-25% of rows)", r => new Query(false, Cursor: deep.Sagas[r.Next(deep.Sagas.Count)]), Slow: true),
            new("sagas: state=Failed, cursor deep (2.5-25%)", r => new Query(false, State: "Failed", Cursor: deep.FailedSagas[r.Next(deep.FailedSagas.Count)]), Slow: true),
            new("compensations: outcome=failed", _ => new Query(true, Outcome: "failed")),
            new("compensations: definition+step", r =>
            {
                var d = defs[r.Next(defs.Length)];
                return new Query(true, Definition: d.Name, Step: d.Steps[r.Next(d.Steps.Length - 1)]);
            }),
            new("compensations: outcome=succeeded, cursor deep (2.5-25%)", r => new Query(true, Outcome: "succeeded", Cursor: deep.SucceededCompensations[r.Next(deep.SucceededCompensations.Count)]), Slow: true),
        ];

        Query Day(Random r, bool compensations)
        {
            var from = DateTime.SpecifyKind(firstDay.AddDays(r.Next(days)), DateTimeKind.Utc);
            return new Query(compensations, From: from, To: from.AddDays(1));
        }
    }
}
