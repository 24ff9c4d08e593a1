using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Api;

/// <summary>Start a saga, read it, read its history.</summary>
public static class SagaRoutes
{
    public static RouteGroupBuilder MapSagaRoutes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/sagas").WithTags("Sagas");
        group.MapPost("/", StartSaga).WithName("StartSaga").Accepts<StartSagaRequest>("application/json");
        group.MapGet("/{id:guid}", GetSaga).WithName("GetSaga");
        group.MapGet("/{id:guid}/history", GetHistory).WithName("GetSagaHistory");
        return group;
    }

    public static async Task<Results<Accepted<StartSagaResponse>, ProblemHttpResult>> StartSaga(
        HttpRequest request, StartValidator validator, SagaProcessor processor, CancellationToken ct)
    {
        var (body, parseError) = await RequestBody.ReadObjectAsync(request, ct);
        if (body is null)
        {
            return Problems.BadRequest(parseError!, ("body", parseError!));
        }

        var errors = new List<(string Field, string Message)>();
        var sagaId = RequestBody.OptionalGuid(body.Value, "sagaId", errors) ?? Guid.NewGuid();
        var definition = RequestBody.OptionalString(body.Value, "definition", errors);
        var version = RequestBody.OptionalInt(body.Value, "version", errors);
        var businessKey = RequestBody.OptionalString(body.Value, "businessKey", errors);
        var tenant = RequestBody.OptionalString(body.Value, "tenant", errors);
        var data = body.Value.TryGetProperty("data", out var d) ? d : default;
        var command = validator.Validate(sagaId, definition, version, data, businessKey, tenant, errors);
        if (command is null || errors.Count > 0)
        {
            return Problems.BadRequest("The start request is invalid", errors.ToArray());
        }

        var result = await processor.StartAsync(command, null, ct);
        return result.Outcome switch
        {
            StartOutcome.Started or StartOutcome.AlreadyStarted =>
                TypedResults.Accepted($"/api/sagas/{result.SagaId}", new StartSagaResponse(result.SagaId, result.Outcome == StartOutcome.AlreadyStarted)),
            StartOutcome.UnknownDefinition => Problems.BadRequest(result.Error!, ("definition", result.Error!)),
            _ => Problems.Conflict(result.Error!),
        };
    }

    public static async Task<Results<Ok<SagaView>, NotFound<ProblemDetails>>> GetSaga(Guid id, SagasDbFactory dbFactory, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        var saga = await db.Sagas.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, ct);
        return saga is null ? Problems.NotFound($"No saga with id {id}") : TypedResults.Ok(SagaView.From(saga));
    }

    public static async Task<Results<Ok<IReadOnlyList<HistoryView>>, NotFound<ProblemDetails>>> GetHistory(Guid id, SagasDbFactory dbFactory, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        if (!await db.Sagas.AnyAsync(s => s.Id == id, ct))
        {
            return Problems.NotFound($"No saga with id {id}");
        }

        var rows = await db.History.AsNoTracking().Where(h => h.SagaId == id).OrderBy(h => h.Sequence).ToListAsync(ct);
        IReadOnlyList<HistoryView> view = rows.ConvertAll(h => new HistoryView(h.Sequence, h.At, h.Type, h.Step, h.Attempt, h.Detail, h.Actor));
        return TypedResults.Ok(view);
    }
}

public sealed record StartSagaRequest(string Definition, Guid? SagaId, JsonObject Data, int? Version, string? BusinessKey, string? Tenant);

public sealed record StartSagaResponse(Guid SagaId, bool AlreadyStarted);

public sealed record StepView(string Name, StepStatus Status, int Attempts, int CompensationAttempts, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, DateTimeOffset? CompensatedAt, string? LastError);

public sealed record SagaView(
    Guid SagaId,
    string Definition,
    int Version,
    SagaState State,
    JsonElement Data,
    IReadOnlyList<StepView> Steps,
    string? Reason,
    string? BusinessKey,
    string? Tenant,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt,
    DateTimeOffset? NextWakeAt,
    DateTimeOffset? DeadlineAt,
    string? CompensationTrigger,
    SagaState? PausedFrom,
    int DeferredReplies,
    IReadOnlyList<SignalView> Signals)
{
    public static SagaView From(SagaInstance s)
    {
        ArgumentNullException.ThrowIfNull(s);
        using var data = JsonDocument.Parse(s.Data);
        return new SagaView(s.Id, s.Definition, s.Version, s.State, data.RootElement.Clone(),
            s.Steps.ConvertAll(x => new StepView(x.Name, x.Status, x.Attempts, x.CompensationAttempts, x.StartedAt, x.FinishedAt, x.CompensatedAt, x.LastError)),
            s.Reason, s.BusinessKey, s.Tenant, s.CreatedAt, s.UpdatedAt, s.CompletedAt, s.NextWakeAt, s.DeadlineAt,
            s.CompensationTrigger, s.PausedFrom, s.Deferred.Count, s.Signals.ConvertAll(x => new SignalView(x.Name, x.ReceivedAt, x.Actor, x.Consumed)));
    }
}

public sealed record SignalView(string Name, DateTimeOffset ReceivedAt, string Actor, bool Consumed);

public sealed record HistoryView(int Sequence, DateTimeOffset Time, string Type, string? Step, int? Attempt, string? Detail, string Actor);
