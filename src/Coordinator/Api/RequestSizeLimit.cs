using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Hosting;

namespace Sagas.Coordinator.Api;

/// <summary>
/// Refuses bodies over <c>Sagas:MaxRequestBytes</c> with a 413 problem: at once when Content-Length says so, and
/// through the server's own limit (Kestrel stops reading and throws) for chunked bodies.
/// </summary>
public sealed class RequestSizeLimit(RequestDelegate next, IOptions<SagasOptions> options, IProblemDetailsService problems)
{
    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var limit = options.Value.MaxRequestBytes;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = limit;
        }

        if (context.Request.ContentLength > limit)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = new ProblemDetails
                {
                    Status = StatusCodes.Status413PayloadTooLarge,
                    Title = "Content too large",
                    Detail = $"The request body is {context.Request.ContentLength} bytes; the limit (Sagas:MaxRequestBytes) is {limit}",
                    Type = "https://tools.ietf.org/html/rfc9110#section-15.5.14",
                },
            });
            return;
        }

        await next(context);
    }
}
