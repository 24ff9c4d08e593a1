using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Sagas.Coordinator.Api.Auth;

/// <summary>Authenticates the <c>X-Api-Key</c> header against <see cref="ApiKeyStore"/>.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyStore store) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string Header = "X-Api-Key";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(Header, out var values) || values.Count == 0 || string.IsNullOrEmpty(values[0]))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (values.Count > 1)
        {
            return Task.FromResult(AuthenticateResult.Fail($"send one {Header} header"));
        }

        var key = store.Find(values[0]!);
        if (key is null)
        {
            return Task.FromResult(AuthenticateResult.Fail("the API key is not valid"));
        }

        var claims = new List<Claim> { new(CallerClaims.Name, key.Name), new(CallerClaims.Role, key.Role) };
        if (key.Tenant is not null)
        {
            claims.Add(new Claim(CallerClaims.Tenant, key.Tenant));
        }

        var identity = new ClaimsIdentity(claims, SchemeName, CallerClaims.Name, CallerClaims.Role);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.Append("WWW-Authenticate", $"ApiKey header=\"{Header}\"");
        return Task.CompletedTask;
    }
}

/// <summary>Access control switched off (<c>Sagas:Auth:Enabled=false</c>): every caller is an anonymous Admin.</summary>
public sealed class AnonymousAdminHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var identity = new ClaimsIdentity([new Claim(CallerClaims.Name, "anonymous"), new Claim(CallerClaims.Role, Policies.Admin)], "Anonymous", CallerClaims.Name, CallerClaims.Role);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }
}
