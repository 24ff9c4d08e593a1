namespace Sagas.Coordinator.Api.Auth;

/// <summary>Authorization policies, one per role. Admin includes Operator includes Reader.</summary>
public static class Policies
{
    public const string Reader = "Reader";
    public const string Operator = "Operator";
    public const string Admin = "Admin";
}
