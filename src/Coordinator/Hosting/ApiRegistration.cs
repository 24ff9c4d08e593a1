using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Scalar.AspNetCore;
using Sagas.Coordinator.Api;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Persistence;
using Sagas.Coordinator.Telemetry;

namespace Sagas.Coordinator.Hosting;

public static class ApiRegistration
{
    public const string OpenApiPath = "/openapi/{documentName}.json";
    public const string ScalarPath = "/scalar";

    public static IHostApplicationBuilder AddSagasApi(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddProblemDetails();
        services.AddExceptionHandler<DatabaseUnavailableHandler>();

        // A body that outgrows the server's limit while being read (chunked) surfaces as BadHttpRequestException(413).
        services.Configure<ExceptionHandlerOptions>(o =>
            o.StatusCodeSelector = ex => ex is Microsoft.AspNetCore.Http.BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError);
        var maxRequestBytes = builder.Configuration.GetSection(SagasOptions.Section).Get<SagasOptions>()?.MaxRequestBytes ?? new SagasOptions().MaxRequestBytes;
        services.Configure<KestrelServerOptions>(o => o.Limits.MaxRequestBodySize = maxRequestBytes);
        services.AddSingleton<OpenApiSecurity>();
        services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer<OpenApiSecurity>();
            o.AddOperationTransformer<OpenApiSecurity>();
        });
        services.AddSagasAuth(builder.Configuration);
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        return builder;
    }

    public static WebApplication MapSagasApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSagasDashboard();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMiddleware<RequestSizeLimit>();

        // The API description holds no data, and the reference page must be able to fetch it without a key.
        app.MapOpenApi(OpenApiPath).AllowAnonymous();
        app.MapScalarApiReference(ScalarPath, o => o
                .WithTitle("Sagas API")
                .WithOpenApiRoutePattern(OpenApiPath)
                .DisableDefaultFonts()
                .AddPreferredSecuritySchemes(OpenApiSecurity.ApiKeyScheme))
            .AllowAnonymous();
        app.MapSagaRoutes();
        app.MapOperatorRoutes();
        app.MapReplayRoutes();
        app.MapCompensationRoutes();
        app.MapDefinitionRoutes();
        app.MapSagasTelemetry();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).AllowAnonymous();
        return app;
    }
}

/// <summary>Ready only when the database answers.</summary>
public sealed class DatabaseHealthCheck(SagasDbFactory dbFactory) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await using var db = dbFactory.Create();
        return await db.Database.CanConnectAsync(cancellationToken)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("the database does not answer");
    }
}
