using Microsoft.AspNetCore.Http.HttpResults;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Api;

/// <summary>The determinism check over HTTP: replays a saga's recorded inputs and reports any difference from what is stored.</summary>
public static class ReplayRoutes
{
    public static RouteHandlerBuilder MapReplayRoutes(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/sagas/{id:guid}/replay", Replay).WithTags("Sagas").WithName("ReplaySaga").RequireAuthorization(Policies.Reader);

    public static async Task<Ok<ReplayView>> Replay(Guid id, SagaReplayer replayer, CancellationToken ct)
    {
        var differences = await replayer.VerifyAsync(id, ct);
        return TypedResults.Ok(new ReplayView(id, differences.Count == 0, differences));
    }
}

public sealed record ReplayView(Guid SagaId, bool Matches, IReadOnlyList<string> Differences);
