namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>The API keys and JWT settings every test host is configured with (<c>Sagas:Auth</c>).</summary>
public static class TestKeys
{
    public const string Admin = "test-admin-key-0000000000000001";
    public const string Operator = "test-operator-key-000000000002";
    public const string Reader = "test-reader-key-0000000000003";
    public const string TenantOperator = "test-acme-operator-key-00004";
    public const string TenantReader = "test-acme-reader-key-0000005";

    /// <summary>The tenant the two scoped keys are confined to.</summary>
    public const string Tenant = "acme";

    public const string JwtSigningKey = "sagas-integration-tests-signing-key-0123456789";
    public const string JwtIssuer = "sagas-tests";
    public const string JwtAudience = "sagas-api";

    /// <summary>Each role's key, lowest first.</summary>
    public static IReadOnlyDictionary<string, string> ByRole { get; } = new Dictionary<string, string>
    {
        ["Reader"] = Reader,
        ["Operator"] = Operator,
        ["Admin"] = Admin,
    };

    public static void AddTo(Dictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        (string Name, string Key, string Role, string? Tenant)[] keys =
        [
            ("tests-admin", Admin, "Admin", null),
            ("tests-operator", Operator, "Operator", null),
            ("tests-reader", Reader, "Reader", null),
            ("acme-operator", TenantOperator, "Operator", Tenant),
            ("acme-reader", TenantReader, "Reader", Tenant),
        ];
        for (var i = 0; i < keys.Length; i++)
        {
            settings.TryAdd($"Sagas:Auth:ApiKeys:{i}:Name", keys[i].Name);
            settings.TryAdd($"Sagas:Auth:ApiKeys:{i}:Key", keys[i].Key);
            settings.TryAdd($"Sagas:Auth:ApiKeys:{i}:Role", keys[i].Role);
            settings.TryAdd($"Sagas:Auth:ApiKeys:{i}:Tenant", keys[i].Tenant);
        }

        settings.TryAdd("Sagas:Auth:Jwt:SigningKey", JwtSigningKey);
        settings.TryAdd("Sagas:Auth:Jwt:Issuer", JwtIssuer);
        settings.TryAdd("Sagas:Auth:Jwt:Audience", JwtAudience);
    }
}
