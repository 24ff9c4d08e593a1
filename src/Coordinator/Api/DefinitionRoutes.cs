using Microsoft.AspNetCore.Http.HttpResults;
using Sagas.Contracts.Definitions;
using Sagas.Coordinator.Definitions;

namespace Sagas.Coordinator.Api;

/// <summary>Read registered definitions.</summary>
public static class DefinitionRoutes
{
    public static RouteGroupBuilder MapDefinitionRoutes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/definitions").WithTags("Definitions");
        group.MapGet("/", ListDefinitions).WithName("ListDefinitions");
        group.MapGet("/{name}", GetDefinition).WithName("GetDefinition");
        return group;
    }

    public static async Task<Ok<IReadOnlyList<SagaDefinition>>> ListDefinitions(DefinitionRegistry registry, CancellationToken ct) =>
        TypedResults.Ok(await registry.ListAsync(null, ct));

    public static async Task<Results<Ok<IReadOnlyList<SagaDefinition>>, NotFound<Microsoft.AspNetCore.Mvc.ProblemDetails>>> GetDefinition(
        string name, DefinitionRegistry registry, CancellationToken ct)
    {
        var versions = await registry.ListAsync(name, ct);
        return versions.Count == 0 ? Problems.NotFound($"No definition named '{name}'") : TypedResults.Ok(versions);
    }
}
