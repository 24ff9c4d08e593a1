using System.Security.Claims;

namespace Sagas.Coordinator.Api.Auth;

/// <summary>Authorization policies, one per role. Admin includes Operator includes Reader.</summary>
public static class Policies
{
    public const string Reader = "Reader";
    public const string Operator = "Operator";
    public const string Admin = "Admin";

    /// <summary>The roles, lowest first.</summary>
    public static IReadOnlyList<string> Roles { get; } = [Reader, Operator, Admin];

    /// <summary>The canonical role name for <paramref name="role"/> (case-insensitive), or null when it is not one.</summary>
    public static string? Normalize(string? role) =>
        Roles.FirstOrDefault(r => string.Equals(r, role?.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>True when one of the caller's roles is <paramref name="policy"/> or a higher one.</summary>
    public static bool Allows(ClaimsPrincipal user, string policy)
    {
        ArgumentNullException.ThrowIfNull(user);
        var needed = IndexOf(policy);
        return user.Claims
            .Where(c => c.Type is ClaimTypes.Role or CallerClaims.Role or CallerClaims.Roles)
            .Any(c => IndexOf(Normalize(c.Value)) >= needed);
    }

    private static int IndexOf(string? role) => role is null ? -1 : Roles.ToList().IndexOf(role);
}
