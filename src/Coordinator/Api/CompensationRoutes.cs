using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Api;

/// <summary>The compensation audit: every compensation of every saga, newest change first, filterable by outcome, definition, step and time.</summary>
public static class CompensationRoutes
{
    private static readonly string[] Outcomes = [CompensationOutcomes.Pending, CompensationOutcomes.Succeeded, CompensationOutcomes.Failed, CompensationOutcomes.Skipped];

    public static RouteGroupBuilder MapCompensationRoutes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/compensations").WithTags("Compensations").RequireAuthorization(Policies.Reader);
        group.MapGet("/", SearchCompensations).WithName("SearchCompensations")
            .WithSummary("Search the compensation audit")
            .WithDescription("Newest change (updatedAt) first, keyset-paged. outcome: pending, succeeded, failed or skipped; from/to bound updatedAt (from inclusive, to exclusive).");
        return group;
    }

    public static async Task<Results<Ok<CompensationPage>, ProblemHttpResult>> SearchCompensations(
        HttpContext http,
        SagasDbFactory dbFactory,
        string? outcome,
        string? definition,
        string? step,
        string? from,
        string? to,
        string? limit,
        string? cursor,
        CancellationToken ct)
    {
        var errors = new List<(string Field, string Message)>();
        var wanted = Paging.Text("outcome", outcome, 20, errors)?.Trim().ToLowerInvariant();
        if (wanted is not null && !Outcomes.Contains(wanted))
        {
            errors.Add(("outcome", $"'{outcome}' is not an outcome; use one of {string.Join(", ", Outcomes)}"));
        }

        var definitionName = Paging.Text("definition", definition, 100, errors);
        var stepName = Paging.Text("step", step, 100, errors);
        var fromTime = Paging.Time("from", from, errors);
        var toTime = Paging.Time("to", to, errors);
        var take = Paging.Limit(limit, errors);
        var after = Paging.DecodeCursor(cursor, errors);
        if (fromTime > toTime)
        {
            errors.Add(("from", "must not be after 'to'"));
        }

        if (errors.Count > 0)
        {
            return Problems.BadRequest("The search is invalid", errors.ToArray());
        }

        await using var db = dbFactory.Create();
        var query = db.Compensations.AsNoTracking();
        if (http.TenantScope() is { } tenant)
        {
            query = query.Where(c => c.Tenant == tenant);
        }

        if (wanted is not null)
        {
            query = query.Where(c => c.Outcome == wanted);
        }

        if (definitionName is not null)
        {
            query = query.Where(c => c.Definition == definitionName);
        }

        if (stepName is not null)
        {
            query = query.Where(c => c.Step == stepName);
        }

        if (fromTime is { } f)
        {
            query = query.Where(c => c.UpdatedAt >= f);
        }

        if (toTime is { } t)
        {
            query = query.Where(c => c.UpdatedAt < t);
        }

        if (after is not null)
        {
            var (at, id, afterStep) = (after.Time, after.Id, after.Text ?? "");
            // "<= at" bounds the index range (see SagaQueries); the OR picks the exact position.
            query = query.Where(c => c.UpdatedAt <= at && (c.UpdatedAt < at
                || (c.UpdatedAt == at && (c.SagaId < id || (c.SagaId == id && string.Compare(c.Step, afterStep) < 0)))));
        }

        var rows = await query
            .OrderByDescending(c => c.UpdatedAt).ThenByDescending(c => c.SagaId).ThenByDescending(c => c.Step)
            .Take(take + 1)
            .Select(c => new CompensationView(c.SagaId, c.Step, c.Definition, c.Version, c.Trigger, c.Attempts, c.Outcome, c.LastError, c.Tenant, c.StartedAt, c.UpdatedAt, c.CompletedAt))
            .ToListAsync(ct);
        var next = rows.Count > take ? Paging.EncodeCursor(new Cursor(rows[take - 1].UpdatedAt, rows[take - 1].SagaId, rows[take - 1].Step)) : null;
        return TypedResults.Ok(new CompensationPage(rows.Take(take).ToList(), next));
    }
}

public sealed record CompensationView(
    Guid SagaId,
    string Step,
    string Definition,
    int Version,
    string Trigger,
    int Attempts,
    string Outcome,
    string? LastError,
    string? Tenant,
    DateTimeOffset StartedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt);

public sealed record CompensationPage(IReadOnlyList<CompensationView> Items, string? NextCursor);
