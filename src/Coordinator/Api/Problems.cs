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

    /// <summary>A 404 problem; a ProblemHttpResult (not NotFound&lt;ProblemDetails&gt;) so it is sent as application/problem+json.</summary>
    public static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(new ProblemDetails
    {
        Status = StatusCodes.Status404NotFound,
        Title = "Not found",
        Detail = detail,
        Type = "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    });

    public static ProblemHttpResult Forbidden(string detail) => TypedResults.Problem(new ProblemDetails
    {
        Status = StatusCodes.Status403Forbidden,
        Title = "Forbidden",
        Detail = detail,
        Type = "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    });

    public static ProblemHttpResult TooLarge(string field, string detail)
    {
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status413PayloadTooLarge,
            Title = "Content too large",
            Detail = detail,
            Type = "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        };
        problem.Extensions["errors"] = new Dictionary<string, string[]> { [field] = [detail] };
        return TypedResults.Problem(problem);
    }
}
