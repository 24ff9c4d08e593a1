using System.Security.Claims;

namespace Sagas.Coordinator.Api.Auth;

/// <summary>Claim types the coordinator reads from API keys and JWTs alike.</summary>
public static class CallerClaims
{
    public const string Name = "name";
    public const string Subject = "sub";
    public const string Role = "role";
    public const string Roles = "roles";
    public const string Tenant = "tenant";

    /// <summary>Who is calling, for audit: the API key's name, or the JWT's <c>name</c> (else <c>sub</c>).</summary>
    public static string ActorName(this HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var user = http.User;
        if (user.Identity?.IsAuthenticated != true)
        {
            return "anonymous";
        }

        return First(user, Name) ?? First(user, ClaimTypes.Name) ?? First(user, Subject) ?? user.Identity.Name ?? "unknown";
    }

    /// <summary>The tenant the caller is confined to, or null when it may see every tenant.</summary>
    public static string? TenantScope(this HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return http.User.Identity?.IsAuthenticated == true ? First(http.User, Tenant) : null;
    }

    private static string? First(ClaimsPrincipal user, string type) =>
        user.FindFirst(type)?.Value is { Length: > 0 } value ? value : null;
}
