using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Hosting;

namespace Sagas.Coordinator.Api;

/// <summary>Declares the API key (and, when configured, JWT bearer) security schemes and each operation's required role.</summary>
public sealed class OpenApiSecurity(IOptions<SagasOptions> options) : IOpenApiDocumentTransformer, IOpenApiOperationTransformer
{
    public const string ApiKeyScheme = "ApiKey";
    public const string BearerScheme = "Bearer";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = ApiKeyAuthenticationHandler.Header,
            Description = "An API key from Sagas:Auth:ApiKeys, or the one generated at first start (logged once).",
        };
        var requirement = new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, document)] = [] };
        var security = new List<OpenApiSecurityRequirement> { requirement };
        if (options.Value.Auth.Jwt.IsConfigured)
        {
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "A JWT with a role/roles claim (Reader, Operator or Admin) and optionally a tenant claim.",
            };
            security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] });
        }

        document.Security = security;
        return Task.CompletedTask;
    }

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(context);
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        // Group and endpoint policies both apply: the highest role is the one that counts.
        var policy = metadata.OfType<IAuthorizeData>().Select(a => a.Policy).Where(p => p is not null)
            .OrderBy(p => Policies.Roles.ToList().IndexOf(p!)).LastOrDefault();
        if (metadata.OfType<IAllowAnonymous>().Any())
        {
            operation.Security = [];
            return Task.CompletedTask;
        }

        var role = policy ?? Policies.Reader;
        operation.Description = string.IsNullOrEmpty(operation.Description) ? $"Role: {role}." : $"{operation.Description} Role: {role}.";
        operation.Responses ??= new OpenApiResponses();
        operation.Responses.TryAdd("401", new OpenApiResponse { Description = "No or invalid credentials (problem details)." });
        operation.Responses.TryAdd("403", new OpenApiResponse { Description = $"The caller's role is below {role} (problem details)." });
        return Task.CompletedTask;
    }
}
