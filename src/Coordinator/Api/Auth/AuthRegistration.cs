using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;
using Sagas.Coordinator.Hosting;

namespace Sagas.Coordinator.Api.Auth;

/// <summary>API keys, optional JWT bearer tokens and the three role policies.</summary>
public static class AuthRegistration
{
    /// <summary>The default scheme: it forwards to JWT bearer when a bearer token is sent, to the API key otherwise.</summary>
    public const string Scheme = "Sagas";

    public static IServiceCollection AddSagasAuth(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = configuration.GetSection(SagasOptions.Section).Get<SagasOptions>()?.Auth ?? new AuthOptions();
        services.AddSingleton<ApiKeyStore>();
        services.AddHostedService<ApiKeyBootstrapper>();

        var authentication = services.AddAuthentication(Scheme);
        if (!options.Enabled)
        {
            authentication.AddScheme<AuthenticationSchemeOptions, AnonymousAdminHandler>(Scheme, null);
        }
        else
        {
            var jwt = options.Jwt;
            authentication
                .AddPolicyScheme(Scheme, null, o => o.ForwardDefaultSelector = http =>
                    jwt.IsConfigured && http.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                        ? JwtBearerDefaults.AuthenticationScheme
                        : ApiKeyAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
            if (jwt.IsConfigured)
            {
                authentication.AddJwtBearer(o => ConfigureJwt(o, jwt));
            }
        }

        services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Reader, p => p.RequireAuthenticatedUser().RequireAssertion(c => Policies.Allows(c.User, Policies.Reader)))
            .AddPolicy(Policies.Operator, p => p.RequireAuthenticatedUser().RequireAssertion(c => Policies.Allows(c.User, Policies.Operator)))
            .AddPolicy(Policies.Admin, p => p.RequireAuthenticatedUser().RequireAssertion(c => Policies.Allows(c.User, Policies.Admin)))

            // A route that names no policy still needs a Reader; health and the API reference opt out explicitly.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().RequireAssertion(c => Policies.Allows(c.User, Policies.Reader)).Build());
        return services;
    }

    private static void ConfigureJwt(JwtBearerOptions o, JwtOptions jwt)
    {
        // Keep claim names as sent ("sub", "name", "role", "roles", "tenant").
        o.MapInboundClaims = false;
        o.RequireHttpsMetadata = jwt.RequireHttpsMetadata;
        if (!string.IsNullOrWhiteSpace(jwt.Authority))
        {
            o.Authority = jwt.Authority;
        }

        o.Audience = jwt.Audience;
        o.TokenValidationParameters = new TokenValidationParameters
        {
            NameClaimType = CallerClaims.Name,
            RoleClaimType = CallerClaims.Role,
            ValidateAudience = !string.IsNullOrWhiteSpace(jwt.Audience),
            ValidAudience = jwt.Audience,
            ValidateIssuer = !string.IsNullOrWhiteSpace(jwt.Issuer) || !string.IsNullOrWhiteSpace(jwt.Authority),
            ValidIssuer = jwt.Issuer,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromMinutes(1),
        };
        if (!string.IsNullOrWhiteSpace(jwt.SigningKey))
        {
            var bytes = Encoding.UTF8.GetBytes(jwt.SigningKey);
            if (bytes.Length < 32)
            {
                throw new InvalidOperationException("Sagas:Auth:Jwt:SigningKey must be at least 32 bytes");
            }

            o.TokenValidationParameters.IssuerSigningKey = new SymmetricSecurityKey(bytes);
        }
    }
}
