using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Api;

/// <summary>
/// Operator actions on one saga. Each needs a reason, is audited in the saga's history with the caller as
/// actor, and is refused with 409 (nothing applied) when it does not fit the saga's state.
/// </summary>
public static class OperatorRoutes
{
    public static RouteGroupBuilder MapOperatorRoutes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/sagas/{id:guid}").WithTags("Operator actions");
        group.MapPost("/cancel", Cancel).WithName("CancelSaga").RequireAuthorization(Policies.Operator);
        group.MapPost("/pause", Pause).WithName("PauseSaga").RequireAuthorization(Policies.Operator);
        group.MapPost("/resume", Resume).WithName("ResumeSaga").RequireAuthorization(Policies.Operator);
        group.MapPost("/retry", Retry).WithName("RetrySaga").RequireAuthorization(Policies.Operator);
        group.MapPost("/compensations/{step}/skip", Skip).WithName("SkipCompensation").RequireAuthorization(Policies.Admin);
        group.MapPost("/signals/{name}", Signal).WithName("SignalSaga").RequireAuthorization(Policies.Operator);
        group.MapPut("/deadline", ChangeDeadline).WithName("ChangeSagaDeadline").RequireAuthorization(Policies.Operator);
        return group;
    }

    public static Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> Cancel(Guid id, HttpContext http, SagaProcessor processor, SagasDbFactory db, CancellationToken ct) =>
        Act(id, http, processor, db, (actor, body) => new OperatorCommand.Cancel(actor, body.Reason), ct);

    public static Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> Pause(Guid id, HttpContext http, SagaProcessor processor, SagasDbFactory db, CancellationToken ct) =>
        Act(id, http, processor, db, (actor, body) => new OperatorCommand.Pause(actor, body.Reason), ct);

    public static Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> Resume(Guid id, HttpContext http, SagaProcessor processor, SagasDbFactory db, CancellationToken ct) =>
        Act(id, http, processor, db, (actor, body) => new OperatorCommand.Resume(actor, body.Reason), ct);

    public static Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> Retry(Guid id, HttpContext http, SagaProcessor processor, SagasDbFactory db, CancellationToken ct) =>
        Act(id, http, processor, db, (actor, body) => new OperatorCommand.Retry(actor, body.Reason, body.Step), ct);

    public static Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> Skip(Guid id, string step, HttpContext http, SagaProcessor processor, SagasDbFactory db, CancellationToken ct) =>
        Act(id, http, processor, db, (actor, body) => new OperatorCommand.SkipCompensation(actor, body.Reason, step), ct);

    public static Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> Signal(Guid id, string name, HttpContext http, SagaProcessor processor, SagasDbFactory db, CancellationToken ct) =>
        Act(id, http, processor, db, (actor, body) => new OperatorCommand.Signal(actor, body.Reason, name, body.Payload), ct, reasonOptional: true);

    public static Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> ChangeDeadline(Guid id, HttpContext http, SagaProcessor processor, SagasDbFactory db, CancellationToken ct) =>
        Act(id, http, processor, db, (actor, body) => new OperatorCommand.ChangeDeadline(actor, body.Reason, body.DeadlineAt), ct, deadline: true);

    private static async Task<Results<Ok<OperatorResponse>, ProblemHttpResult, NotFound<ProblemDetails>>> Act(
        Guid id,
        HttpContext http,
        SagaProcessor processor,
        SagasDbFactory dbFactory,
        Func<string, ActionBody, OperatorCommand> command,
        CancellationToken ct,
        bool reasonOptional = false,
        bool deadline = false)
    {
        var (body, error) = await ReadBodyAsync(http.Request, reasonOptional, deadline, ct);
        if (body is null)
        {
            return Problems.BadRequest(error!.Value.Message, error.Value);
        }

        var operatorCommand = command(Actor(http), body);
        if (OperatorInput.Check(operatorCommand) is { } problem)
        {
            var field = problem[..problem.IndexOf(':', StringComparison.Ordinal)];
            return Problems.BadRequest(problem, (field, problem[(field.Length + 2)..]));
        }

        var result = await processor.OperateAsync(id, null, operatorCommand, ct);
        switch (result.Outcome)
        {
            case HandleOutcome.UnknownSaga:
                return Problems.NotFound($"No saga with id {id}");
            case HandleOutcome.Rejected:
                return Problems.Conflict(result.Rejection!);
            default:
                await using (var db = dbFactory.Create())
                {
                    var saga = await db.Sagas.AsNoTracking().FirstAsync(s => s.Id == id, ct);
                    return TypedResults.Ok(new OperatorResponse(SagaView.From(saga, http), result.Note));
                }
        }
    }

    /// <summary>The body is optional for a signal; otherwise it must carry a reason.</summary>
    private static async Task<(ActionBody? Body, (string Field, string Message)? Error)> ReadBodyAsync(
        HttpRequest request, bool reasonOptional, bool deadline, CancellationToken ct)
    {
        if (request.ContentLength is 0 || (request.ContentLength is null && request.ContentType is null))
        {
            return reasonOptional ? (new ActionBody("", null, null, null), null) : (null, ("reason", "is required: send {\"reason\": \"...\"}"));
        }

        var (json, parseError) = await RequestBody.ReadObjectAsync(request, ct);
        if (json is null)
        {
            return (null, ("body", parseError!));
        }

        var errors = new List<(string, string)>();
        var reason = RequestBody.OptionalString(json.Value, "reason", errors) ?? "";
        var step = RequestBody.OptionalString(json.Value, "step", errors);
        string? payload = null;
        if (json.Value.TryGetProperty("payload", out var p) && p.ValueKind != JsonValueKind.Null)
        {
            if (p.ValueKind != JsonValueKind.Object)
            {
                return (null, ("payload", $"must be a JSON object, not {p.ValueKind}"));
            }

            payload = p.GetRawText();
        }

        DateTimeOffset? deadlineAt = null;
        if (deadline)
        {
            if (!json.Value.TryGetProperty("deadlineAt", out var d))
            {
                return (null, ("deadlineAt", "is required: an ISO 8601 time, or null to remove the deadline"));
            }

            if (d.ValueKind != JsonValueKind.Null)
            {
                if (d.ValueKind != JsonValueKind.String || !d.TryGetDateTimeOffset(out var at))
                {
                    return (null, ("deadlineAt", "must be an ISO 8601 time with an offset, e.g. 2026-12-01T12:00:00Z"));
                }

                deadlineAt = at.ToUniversalTime();
            }
        }

        return errors.Count > 0 ? (null, errors[0]) : (new ActionBody(reason, step, payload, deadlineAt), null);
    }

    private static string Actor(HttpContext http) =>
        http.User.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name } ? name : "anonymous";

    public sealed record ActionBody(string Reason, string? Step, string? Payload, DateTimeOffset? DeadlineAt);
}

/// <summary>The saga after the action, and a note when something should be said (a signal nobody waits for yet).</summary>
public sealed record OperatorResponse(SagaView Saga, string? Note);
