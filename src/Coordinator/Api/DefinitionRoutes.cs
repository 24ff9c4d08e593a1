using Microsoft.AspNetCore.Http.HttpResults;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Definitions;

namespace Sagas.Coordinator.Api;

/// <summary>Read and register definitions. Bodies use <see cref="DefinitionJson.Options"/>, so the API shape is the file format.</summary>
public static class DefinitionRoutes
{
    public static RouteGroupBuilder MapDefinitionRoutes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/definitions").WithTags("Definitions").RequireAuthorization(Policies.Reader);
        group.MapGet("/", ListDefinitions).WithName("ListDefinitions").Produces<IReadOnlyList<SagaDefinition>>();
        group.MapGet("/{name}", GetDefinition).WithName("GetDefinition").Produces<IReadOnlyList<SagaDefinition>>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{name}/{version:int}", GetDefinitionVersion).WithName("GetDefinitionVersion").Produces<SagaDefinition>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/", RegisterDefinition).WithName("RegisterDefinition")
            .RequireAuthorization(Policies.Admin)
            .Accepts<SagaDefinition>("application/json")
            .Produces<SagaDefinition>(StatusCodes.Status201Created)
            .Produces<SagaDefinition>()
            .WithSummary("Register a definition version")
            .WithDescription("201 when registered, 200 when that version is already registered with the same content, 409 when with different content, 400 listing the problems per field.");
        return group;
    }

    public static async Task<JsonHttpResult<IReadOnlyList<SagaDefinition>>> ListDefinitions(DefinitionRegistry registry, CancellationToken ct) =>
        TypedResults.Json(await registry.ListAsync(null, ct), DefinitionJson.Options);

    public static async Task<Results<JsonHttpResult<IReadOnlyList<SagaDefinition>>, ProblemHttpResult>> GetDefinition(
        string name, DefinitionRegistry registry, CancellationToken ct)
    {
        var versions = await registry.ListAsync(name, ct);
        return versions.Count == 0 ? Problems.NotFound($"No definition named '{name}'") : TypedResults.Json(versions, DefinitionJson.Options);
    }

    public static async Task<Results<JsonHttpResult<SagaDefinition>, ProblemHttpResult>> GetDefinitionVersion(
        string name, int version, DefinitionRegistry registry, CancellationToken ct)
    {
        var definition = await registry.FindAsync(name, version, ct);
        return definition is null ? Problems.NotFound($"No definition {name}@v{version}") : TypedResults.Json(definition, DefinitionJson.Options);
    }

    public static async Task<Results<JsonHttpResult<SagaDefinition>, ProblemHttpResult>> RegisterDefinition(
        HttpRequest request, DefinitionRegistry registry, CancellationToken ct)
    {
        if (request.ContentType is null || !request.ContentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.BadRequest("", ("body", "the body must be JSON (Content-Type: application/json)"));
        }

        using var reader = new StreamReader(request.Body);
        var text = await reader.ReadToEndAsync(ct);
        if (string.IsNullOrWhiteSpace(text))
        {
            return Problems.BadRequest("", ("body", "the body must be a saga definition (JSON object)"));
        }

        var (definition, parseErrors) = DefinitionJson.Parse(text);
        if (definition is null)
        {
            return Invalid(parseErrors);
        }

        var result = await registry.RegisterAsync(definition, ct);
        switch (result.Outcome)
        {
            case RegisterOutcome.Registered:
                request.HttpContext.Response.Headers.Location = $"/api/definitions/{Uri.EscapeDataString(definition.Name)}/{definition.Version}";
                return TypedResults.Json(definition, DefinitionJson.Options, statusCode: StatusCodes.Status201Created);
            case RegisterOutcome.Unchanged:
                return TypedResults.Json(definition, DefinitionJson.Options);
            case RegisterOutcome.VersionExists:
                return Problems.Conflict(string.Join("; ", result.Errors));
            default:
                return Invalid(result.Errors);
        }
    }

    private static ProblemHttpResult Invalid(IReadOnlyList<DefinitionError> errors) =>
        Problems.BadRequest("The definition is invalid", errors.Select(e => (e.Field, e.Message)).ToArray());
}
