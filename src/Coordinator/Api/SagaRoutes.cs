using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Messaging;
using Sagas.Coordinator.Persistence;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Api;

/// <summary>Start a saga, search sagas, read one, read its history. A tenant-scoped caller sees and starts only its tenant's sagas.</summary>
public static class SagaRoutes
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    public static RouteGroupBuilder MapSagaRoutes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/sagas").WithTags("Sagas").RequireAuthorization(Policies.Reader);
        group.MapPost("/", StartSaga).WithName("StartSaga").Accepts<StartSagaRequest>("application/json")
            .RequireAuthorization(Policies.Operator)
            .WithSummary("Start a saga")
            .WithDescription("Idempotent: by sagaId, or, when none is given, by the Idempotency-Key header (the same key twice starts one saga).")
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        group.MapGet("/", SagaQueries.SearchSagas).WithName("SearchSagas")
            .WithSummary("Search sagas")
            .WithDescription("Newest first (createdAt, then sagaId, descending), keyset-paged: pass nextCursor as cursor. state takes one or more comma-separated states; from/to bound createdAt (from inclusive, to exclusive); limit 1-500, default 50.");
        group.MapGet("/counts", SagaQueries.CountSagas).WithName("CountSagas").WithSummary("Count sagas per state");
        group.MapGet("/{id:guid}", GetSaga).WithName("GetSaga").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{id:guid}/history", GetHistory).WithName("GetSagaHistory").ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    public static async Task<Results<Accepted<StartSagaResponse>, ProblemHttpResult>> StartSaga(
        HttpRequest request, StartValidator validator, SagaProcessor processor, SagasDbFactory dbFactory, IOptions<SagasOptions> options, CancellationToken ct)
    {
        var (body, parseError) = await RequestBody.ReadObjectAsync(request, ct);
        if (body is null)
        {
            return Problems.BadRequest(parseError!, ("body", parseError!));
        }

        var errors = new List<(string Field, string Message)>();
        var givenId = RequestBody.OptionalGuid(body.Value, "sagaId", errors);
        var definition = RequestBody.OptionalString(body.Value, "definition", errors);
        var version = RequestBody.OptionalInt(body.Value, "version", errors);
        var businessKey = RequestBody.OptionalString(body.Value, "businessKey", errors);
        var tenant = RequestBody.OptionalString(body.Value, "tenant", errors);
        var data = body.Value.TryGetProperty("data", out var d) ? d : default;
        if (PayloadCodec.IsEncoded(data))
        {
            // Decoding here would let a caller turn a claim id or a ciphertext taken from elsewhere (another tenant's
            // saga) into plaintext it may read back; over HTTP the data itself is sent and the coordinator encrypts it.
            return Problems.BadRequest("data must be the plain JSON object over HTTP, not an encrypted envelope or a claim reference", ("data", "send the plain data; the coordinator encrypts it"));
        }

        if (data.ValueKind == JsonValueKind.Object && data.GetRawText().Length is var size && size > options.Value.MaxDataBytes)
        {
            return Problems.TooLarge("data", $"data is {size} bytes; the limit (Sagas:MaxDataBytes) is {options.Value.MaxDataBytes}");
        }

        var scope = request.HttpContext.TenantScope();
        if (scope is not null)
        {
            if (tenant is not null && !string.Equals(tenant, scope, StringComparison.Ordinal))
            {
                return Problems.Forbidden($"this caller may only start sagas for tenant '{scope}'");
            }

            tenant = scope;
        }

        var idempotencyKey = request.Headers[IdempotencyKeyHeader].ToString();
        if (idempotencyKey.Length > 200)
        {
            errors.Add((IdempotencyKeyHeader, "must be at most 200 characters"));
        }

        var sagaId = givenId ?? (idempotencyKey.Length > 0 ? IdempotencyKeys.SagaId(tenant, idempotencyKey) : Guid.NewGuid());
        var deadline = RequestBody.OptionalTimeSpan(body.Value, "deadline", errors);
        var command = validator.Validate(sagaId, definition, version, data, businessKey, tenant, errors, deadline);
        if (command is null || errors.Count > 0)
        {
            return Problems.BadRequest("The start request is invalid", errors.ToArray());
        }

        var result = await processor.StartAsync(command, null, ct);
        if (scope is not null && result.Outcome != StartOutcome.Started && result.Outcome != StartOutcome.UnknownDefinition
            && !await IsVisibleAsync(dbFactory, result.SagaId, scope, ct))
        {
            // Do not tell a scoped caller about another tenant's saga.
            return Problems.Conflict($"saga id {result.SagaId} is already in use");
        }

        return result.Outcome switch
        {
            StartOutcome.Started or StartOutcome.AlreadyStarted =>
                TypedResults.Accepted($"/api/sagas/{result.SagaId}", new StartSagaResponse(result.SagaId, result.Outcome == StartOutcome.AlreadyStarted)),
            StartOutcome.UnknownDefinition => Problems.BadRequest(result.Error!, ("definition", result.Error!)),
            _ => Problems.Conflict(result.Error!),
        };
    }

    public static async Task<Results<Ok<SagaView>, ProblemHttpResult>> GetSaga(Guid id, HttpContext http, SagasDbFactory dbFactory, CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        var saga = await db.Sagas.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, ct);
        return saga is null || !InScope(saga.Tenant, http.TenantScope())
            ? Problems.NotFound($"No saga with id {id}")
            : TypedResults.Ok(SagaView.From(saga, http));
    }

    public static async Task<Results<Ok<IReadOnlyList<HistoryView>>, ProblemHttpResult>> GetHistory(Guid id, HttpContext http, SagasDbFactory dbFactory, CancellationToken ct)
    {
        if (!await IsVisibleAsync(dbFactory, id, http.TenantScope(), ct))
        {
            return Problems.NotFound($"No saga with id {id}");
        }

        await using var db = dbFactory.Create();

        var rows = await db.History.AsNoTracking().Where(h => h.SagaId == id).OrderBy(h => h.Sequence).ToListAsync(ct);
        IReadOnlyList<HistoryView> view = rows.ConvertAll(h => new HistoryView(h.Sequence, h.At, h.Type, h.Step, h.Attempt, h.Detail, h.Actor));
        return TypedResults.Ok(view);
    }

    /// <summary>True when the saga exists and the caller's tenant scope (if any) covers it. Out of scope reads as unknown.</summary>
    public static async Task<bool> IsVisibleAsync(SagasDbFactory dbFactory, Guid id, string? scope, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(dbFactory);
        await using var db = dbFactory.Create();
        var query = db.Sagas.AsNoTracking().Where(s => s.Id == id);
        if (scope is not null)
        {
            query = query.Where(s => s.Tenant == scope);
        }

        return await query.AnyAsync(ct);
    }

    private static bool InScope(string? tenant, string? scope) => scope is null || string.Equals(tenant, scope, StringComparison.Ordinal);
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
    /// <summary>The view of <paramref name="s"/> for the caller of <paramref name="http"/>, with the data only if it may see it.</summary>
    public static SagaView From(SagaInstance s, HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(s);
        return From(s, DataVisibility.Reveals(http) ? null : DataVisibility.Placeholder(http));
    }

    public static SagaView From(SagaInstance s, JsonElement? dataPlaceholder = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        using var data = dataPlaceholder is null ? JsonDocument.Parse(s.Data) : null;
        return new SagaView(s.Id, s.Definition, s.Version, s.State, data?.RootElement.Clone() ?? dataPlaceholder!.Value,
            s.Steps.ConvertAll(x => new StepView(x.Name, x.Status, x.Attempts, x.CompensationAttempts, x.StartedAt, x.FinishedAt, x.CompensatedAt, x.LastError)),
            s.Reason, s.BusinessKey, s.Tenant, s.CreatedAt, s.UpdatedAt, s.CompletedAt, s.NextWakeAt, s.DeadlineAt,
            s.CompensationTrigger, s.PausedFrom, s.Deferred.Count, s.Signals.ConvertAll(x => new SignalView(x.Name, x.ReceivedAt, x.Actor, x.Consumed)));
    }
}

public sealed record SignalView(string Name, DateTimeOffset ReceivedAt, string Actor, bool Consumed);

public sealed record HistoryView(int Sequence, DateTimeOffset Time, string Type, string? Step, int? Attempt, string? Detail, string Actor);
