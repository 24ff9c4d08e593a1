using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Sagas.Coordinator.Api;

/// <summary>RFC 7807 problem details; 400s carry an <c>errors</c> map from field name to messages.</summary>
public static class Problems
{
    public static ProblemHttpResult BadRequest(string detail, params (string Field, string Message)[] errors)
    {
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "Invalid request",
            Detail = errors.Length == 0 ? detail : string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")),
            Type = "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        };
        if (errors.Length > 0)
        {
            problem.Extensions["errors"] = errors.GroupBy(e => e.Field).ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray());
        }

        return TypedResults.Problem(problem);
    }

    public static ProblemHttpResult Conflict(string detail) => TypedResults.Problem(new ProblemDetails
    {
        Status = StatusCodes.Status409Conflict,
        Title = "Conflict",
        Detail = detail,
        Type = "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    });

    public static NotFound<ProblemDetails> NotFound(string detail) => TypedResults.NotFound(new ProblemDetails
    {
        Status = StatusCodes.Status404NotFound,
        Title = "Not found",
        Detail = detail,
        Type = "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    });
}
