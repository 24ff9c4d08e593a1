using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Sagas.Coordinator.Api.Auth;
using Sagas.Coordinator.Persistence;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Access control: API keys and JWTs, roles Reader &lt; Operator &lt; Admin, tenant-scoped keys, and the key
/// generated at first start. The route table test enumerates the live endpoints, so a new route is covered
/// without editing it.
/// </summary>
public sealed partial class AccessControlScenarios(EmbeddedBackend backend) : IClassFixture<EmbeddedBackend>
{
    private static readonly string[] AnonymousPrefixes = ["/health/", "/openapi/", "/scalar"];

    /// <summary>Routes that need more than the rule "GET: Reader, anything else: Operator".</summary>
    private static readonly (string Method, Regex Pattern, string Role)[] Exceptions =
    [
        ("POST", new Regex("^/api/definitions/?$"), Policies.Admin),
        ("*", new Regex("/skip$"), Policies.Admin),
    ];

    [Fact]
    public async Task Routes_EveryEndpoint_401WithoutCredentials403BelowItsRoleAllowedWithIt()
    {
        var endpoints = Endpoints();
        Assert.Contains(endpoints, e => e.Pattern == "/api/sagas" && e.Method == "POST");
        var failures = new List<string>();
        foreach (var (method, pattern, anonymous) in endpoints)
        {
            var isPublic = AnonymousPrefixes.Any(p => pattern.StartsWith(p, StringComparison.Ordinal));
            if (anonymous != isPublic)
            {
                failures.Add($"{method} {pattern}: anonymous={anonymous}, expected {isPublic}");
                continue;
            }

            var path = FillIn(pattern);
            if (isPublic)
            {
                using var open = await SendAsync((string?)null, method, path);
                Expect(failures, method, pattern, "no credentials (public route)", open, s => s is not (401 or 403));
                continue;
            }

            var role = ExpectedRole(method, pattern);
            using (var none = await SendAsync((string?)null, method, path))
            {
                await ExpectProblemAsync(failures, method, pattern, "no credentials", none, 401);
            }

            using (var wrong = await SendAsync("not-a-valid-key-0000000000", method, path))
            {
                await ExpectProblemAsync(failures, method, pattern, "an unknown key", wrong, 401);
            }

            foreach (var (keyRole, key) in TestKeys.ByRole)
            {
                using var response = await SendAsync(key, method, path);
                if (Policies.Roles.ToList().IndexOf(keyRole) < Policies.Roles.ToList().IndexOf(role))
                {
                    await ExpectProblemAsync(failures, method, pattern, $"a {keyRole} key (needs {role})", response, 403);
                }
                else
                {
                    Expect(failures, method, pattern, $"a {keyRole} key (needs {role})", response, s => s is not (401 or 403));
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public async Task Reader_EveryNonGetRoute_403AndNothingStarted()
    {
        using var reader = backend.CreateClient(TestKeys.Reader);
        var businessKey = "reader-" + Guid.NewGuid().ToString("N")[..8];

        using var response = await reader.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative),
            new { definition = TestDefinitions.Shipped, businessKey, data = new { orderId = "o", customerId = "c", sku = "s", quantity = 1, amount = 1, country = "NL" } });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var page = await backend.Client.GetFromJsonAsync<JsonElement>(new Uri($"/api/sagas?businessKey={businessKey}", UriKind.Relative));
        Assert.Empty(page.GetProperty("items").EnumerateArray());
        Assert.All(Endpoints().Where(e => e.Method != "GET" && !e.Anonymous), e => Assert.NotEqual(Policies.Reader, ExpectedRole(e.Method, e.Pattern)));
    }

    [Fact]
    public async Task ApiKey_TwoHeaders_401()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/sagas", UriKind.Relative));
        request.Headers.Add("X-Api-Key", [TestKeys.Admin, TestKeys.Reader]);
        using var client = backend.CreateClient(null);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task TenantKey_StartWithoutTenant_SagaBelongsToTheKeysTenant()
    {
        using var acme = backend.CreateClient(TestKeys.TenantOperator);
        var order = await backend.NewOrderAsync();

        using var response = await acme.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition = TestDefinitions.Shipped, data = order.ToJson() });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sagaId").GetGuid();
        var saga = await backend.WaitForStateAsync(id, "Completed");
        Assert.Equal(TestKeys.Tenant, saga.GetProperty("tenant").GetString());
    }

    [Fact]
    public async Task TenantKey_StartForAnotherTenant_403()
    {
        using var acme = backend.CreateClient(TestKeys.TenantOperator);
        var order = await backend.NewOrderAsync();

        using var response = await acme.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), new { definition = TestDefinitions.Shipped, tenant = "globex", data = order.ToJson() });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task TenantKey_OtherTenantsSaga_404OnGetAndHistoryAbsentFromSearchAndCounts()
    {
        var order = await backend.NewOrderAsync();
        var businessKey = "tenant-" + Guid.NewGuid().ToString("N")[..8];
        using var start = await backend.Client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative),
            new { definition = TestDefinitions.Shipped, tenant = "globex", businessKey, data = order.ToJson() });
        var id = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sagaId").GetGuid();
        await backend.WaitForStateAsync(id, "Completed");
        using var acme = backend.CreateClient(TestKeys.TenantReader);

        using var get = await acme.GetAsync(new Uri($"/api/sagas/{id}", UriKind.Relative));
        using var history = await acme.GetAsync(new Uri($"/api/sagas/{id}/history", UriKind.Relative));
        var search = await acme.GetFromJsonAsync<JsonElement>(new Uri($"/api/sagas?businessKey={businessKey}", UriKind.Relative));
        using var otherTenant = await acme.GetAsync(new Uri("/api/sagas?tenant=globex", UriKind.Relative));
        var counts = await acme.GetFromJsonAsync<JsonElement>(new Uri("/api/sagas/counts", UriKind.Relative));
        var all = await acme.GetFromJsonAsync<JsonElement>(new Uri("/api/sagas?limit=500", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, history.StatusCode);
        Assert.Empty(search.GetProperty("items").EnumerateArray());
        Assert.Equal(HttpStatusCode.Forbidden, otherTenant.StatusCode);
        Assert.All(all.GetProperty("items").EnumerateArray(), s => Assert.Equal(TestKeys.Tenant, s.GetProperty("tenant").GetString()));
        Assert.Equal(all.GetProperty("items").GetArrayLength(), counts.GetProperty("total").GetInt32());
        var admin = await backend.GetSagaAsync(id);
        Assert.Equal("globex", admin.GetProperty("tenant").GetString());
    }

    [Theory]
    [InlineData("Reader", "GET", 200)]
    [InlineData("Reader", "POST", 403)]
    [InlineData("operator", "POST", 400)]
    [InlineData("Admin", "POST", 400)]
    public async Task Jwt_RoleClaim_DecidesAccess(string role, string method, int expected)
    {
        using var client = backend.CreateClient(null, Token(new Claim("sub", "u-1"), new Claim("role", role)));

        using var response = await SendAsync(client, method, "/api/sagas");

        Assert.Equal(expected, (int)response.StatusCode);
    }

    [Fact]
    public async Task Jwt_RolesArrayClaimAdmin_MayRegisterDefinitions()
    {
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = TestKeys.JwtIssuer,
            Audience = TestKeys.JwtAudience,
            Expires = DateTime.UtcNow.AddMinutes(5),
            Claims = new Dictionary<string, object> { ["sub"] = "u-2", ["roles"] = new[] { "Reader", "Admin" } },
            SigningCredentials = Credentials(TestKeys.JwtSigningKey),
        });
        using var client = backend.CreateClient(null, token);

        using var response = await SendAsync(client, "POST", "/api/definitions");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Theory]
    [InlineData("wrong signing key")]
    [InlineData("expired")]
    [InlineData("wrong audience")]
    public async Task Jwt_InvalidToken_401Problem(string problem)
    {
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = TestKeys.JwtIssuer,
            Audience = problem == "wrong audience" ? "someone-else" : TestKeys.JwtAudience,
            NotBefore = DateTime.UtcNow.AddHours(-2),
            IssuedAt = DateTime.UtcNow.AddHours(-2),
            Expires = problem == "expired" ? DateTime.UtcNow.AddHours(-1) : DateTime.UtcNow.AddMinutes(5),
            Subject = new ClaimsIdentity([new Claim("sub", "u-3"), new Claim("role", "Admin")]),
            SigningCredentials = Credentials(problem == "wrong signing key" ? "another-signing-key-that-is-long-enough-0123" : TestKeys.JwtSigningKey),
        };
        using var client = backend.CreateClient(null, new JsonWebTokenHandler().CreateToken(descriptor));

        using var response = await client.GetAsync(new Uri("/api/sagas", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public void ActorName_KeyAndJwtAndAnonymous_NameThenSub()
    {
        static string Actor(params Claim[] claims) => new Microsoft.AspNetCore.Http.DefaultHttpContext
        {
            User = new ClaimsPrincipal(claims.Length == 0 ? new ClaimsIdentity() : new ClaimsIdentity(claims, "test")),
        }.ActorName();

        Assert.Equal("ops-key", Actor(new Claim("name", "ops-key"), new Claim("role", "Operator")));
        Assert.Equal("Ada", Actor(new Claim("sub", "u-9"), new Claim("name", "Ada")));
        Assert.Equal("u-9", Actor(new Claim("sub", "u-9")));
        Assert.Equal("anonymous", Actor());
    }

    internal static string Token(params Claim[] claims) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = TestKeys.JwtIssuer,
        Audience = TestKeys.JwtAudience,
        Expires = DateTime.UtcNow.AddMinutes(5),
        Subject = new ClaimsIdentity(claims),
        SigningCredentials = Credentials(TestKeys.JwtSigningKey),
    });

    private static SigningCredentials Credentials(string key) =>
        new(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)), SecurityAlgorithms.HmacSha256);

    private List<(string Method, string Pattern, bool Anonymous)> Endpoints() =>
        RouteTable(backend.Services);

    internal static List<(string Method, string Pattern, bool Anonymous)> RouteTable(IServiceProvider services) =>
        services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(m => (m, "/" + e.RoutePattern.RawText!.Trim('/'), e.Metadata.GetMetadata<IAllowAnonymous>() is not null)))
            .Distinct()
            .OrderBy(e => e.Item2, StringComparer.Ordinal).ThenBy(e => e.m, StringComparer.Ordinal)
            .ToList();

    private static string ExpectedRole(string method, string pattern) =>
        Exceptions.FirstOrDefault(x => (x.Method == "*" || x.Method == method) && x.Pattern.IsMatch(pattern)).Role
        ?? (method is "GET" or "HEAD" ? Policies.Reader : Policies.Operator);

    /// <summary>A concrete path for a route pattern: GUIDs for guid parameters, 1 for numbers, "x" otherwise.</summary>
    internal static string FillIn(string pattern) => RouteParameter().Replace(pattern, m =>
        m.Groups["constraint"].Value switch
        {
            var c when c.Contains("guid", StringComparison.Ordinal) => Guid.NewGuid().ToString(),
            var c when c.Contains("int", StringComparison.Ordinal) || c.Contains("long", StringComparison.Ordinal) => "1",
            _ => "x",
        });

    private Task<HttpResponseMessage> SendAsync(string? key, string method, string path)
    {
        var client = backend.CreateClient(key);
        return SendAsync(client, method, path);
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string method, string path)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
        if (method is not ("GET" or "HEAD" or "DELETE"))
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        return client.SendAsync(request);
    }

    private static void Expect(List<string> failures, string method, string pattern, string who, HttpResponseMessage response, Func<int, bool> ok)
    {
        if (!ok((int)response.StatusCode))
        {
            failures.Add($"{method} {pattern} with {who}: got {(int)response.StatusCode}");
        }
    }

    private static async Task ExpectProblemAsync(List<string> failures, string method, string pattern, string who, HttpResponseMessage response, int status)
    {
        if ((int)response.StatusCode != status)
        {
            failures.Add($"{method} {pattern} with {who}: expected {status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        else if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            failures.Add($"{method} {pattern} with {who}: {status} without problem details ({response.Content.Headers.ContentType})");
        }
    }

    [GeneratedRegex(@"\{\**(?<name>[^}:?=]+)(?::(?<constraint>[^}=?]+))?[^}]*\}")]
    private static partial Regex RouteParameter();
}

/// <summary>
/// With no key configured, the first start generates an Admin key, logs it once and stores only its hash; a
/// restart on the same database keeps it valid and logs nothing new.
/// </summary>
public sealed class GeneratedKeyScenarios
{
    [Fact]
    public async Task FirstStart_NoKeysConfigured_AdminKeyLoggedOnceHashStoredValidAfterRestart()
    {
        var folder = Directory.CreateTempSubdirectory("sagas-keys-").FullName;
        string key;
        await using (var first = new NoKeysBackend(folder))
        {
            await first.InitializeAsync();
            var warnings = first.Logs.Where(l => l.Contains("sagas_", StringComparison.Ordinal)).ToList();
            key = Assert.Single(Regex.Matches(Assert.Single(warnings), "sagas_[A-Za-z0-9_-]{43}")).Value;
            await using (var db = first.Services.GetRequiredService<SagasDbFactory>().Create())
            {
                var row = Assert.Single(await db.ApiKeys.ToListAsync());
                Assert.Equal("Admin", row.Role);
                Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(key))), row.Hash);
                Assert.DoesNotContain(key, row.Hash, StringComparison.Ordinal);
            }

            using var client = first.CreateClient(key);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/api/sagas", UriKind.Relative))).StatusCode);
            using var anonymous = first.CreateClient(null);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(new Uri("/api/sagas", UriKind.Relative))).StatusCode);
        }

        await using var second = new NoKeysBackend(folder);
        await second.InitializeAsync();
        using var again = second.CreateClient(key);

        Assert.Equal(HttpStatusCode.OK, (await again.GetAsync(new Uri("/api/definitions", UriKind.Relative))).StatusCode);
        Assert.DoesNotContain(second.Logs, l => l.Contains("sagas_", StringComparison.Ordinal));
    }

    private sealed class NoKeysBackend(string folder) : SagaBackend, IAsyncDisposable
    {
        public ConcurrentQueue<string> Logs { get; } = new();

        public override string Name => "SQLite, no keys configured";

        protected override bool UseTestKeys => false;

        async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

        protected override void ConfigureServices(IServiceCollection services) =>
            services.AddSingleton<ILoggerProvider>(new QueueLoggerProvider(Logs));

        protected override Task<Dictionary<string, string?>> SettingsAsync() => Task.FromResult(new Dictionary<string, string?>
        {
            ["Sagas:Mode"] = "Embedded",
            ["Sagas:Database:Provider"] = "Sqlite",
            ["ConnectionStrings:Sagas"] = $"Data Source={Path.Combine(folder, "sagas.db")}",
            ["Sagas:Transport:Kind"] = "InMemory",
            ["Samples:Provider"] = "Sqlite",
            ["Samples:Inventory"] = Path.Combine(folder, "inventory.db"),
            ["Samples:Payments"] = Path.Combine(folder, "payments.db"),
            ["Samples:Shipping"] = Path.Combine(folder, "shipping.db"),
        });
    }

    private sealed class QueueLoggerProvider(ConcurrentQueue<string> logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(logs);

        public void Dispose()
        {
        }

        private sealed class QueueLogger(ConcurrentQueue<string> logs) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    logs.Enqueue(formatter(state, exception));
                }
            }
        }
    }
}

/// <summary>API conventions: the OpenAPI document covers every route, the reference page needs no CDN, every error is a problem, idempotency keys and size limits.</summary>
public sealed class ApiConventionScenarios(EmbeddedBackend backend) : IClassFixture<EmbeddedBackend>
{
    [Fact]
    public async Task OpenApi_Document_ListsEveryRouteAndTheApiKeyScheme()
    {
        using var anonymous = backend.CreateClient(null);
        var document = await anonymous.GetFromJsonAsync<JsonElement>(new Uri("/openapi/v1.json", UriKind.Relative));

        var paths = document.GetProperty("paths");
        var missing = AccessControlScenarios.RouteTable(backend.Services)
            .Where(r => r.Pattern.StartsWith("/api/", StringComparison.Ordinal))
            .Where(r => !paths.TryGetProperty(Regex.Replace(r.Pattern, @"\{([^}:?=]+)[^}]*\}", "{$1}"), out var item)
                || !item.TryGetProperty(r.Method.ToLowerInvariant(), out _))
            .Select(r => $"{r.Method} {r.Pattern}")
            .ToList();
        Assert.True(missing.Count == 0, "not in the OpenAPI document: " + string.Join(", ", missing));
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("apiKey", scheme.GetProperty("type").GetString());
        Assert.Equal("header", scheme.GetProperty("in").GetString());
        Assert.Equal("X-Api-Key", scheme.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Scalar_ReferencePage_ServedWithItsScriptAndNoExternalUrls()
    {
        using var anonymous = backend.CreateClient(null);

        var page = await anonymous.GetStringAsync(new Uri("/scalar/", UriKind.Relative));
        using var script = await anonymous.GetAsync(new Uri("/scalar/scalar.js", UriKind.Relative));

        Assert.Contains("scalar.js", page, StringComparison.Ordinal);
        Assert.DoesNotMatch("(src|href)=\"https?://", page);
        Assert.DoesNotContain("fonts.scalar.com", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 100_000, "the script is served from the package, not a CDN");
    }

    [Theory]
    [InlineData("GET", "/api/nowhere", 404)]
    [InlineData("DELETE", "/api/sagas", 405)]
    [InlineData("PUT", "/api/definitions", 405)]
    public async Task Errors_UnknownRouteOrMethod_ProblemDetails(string method, string path, int status)
    {
        using var response = await backend.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative)));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task StartSaga_BodyOverMaxRequestBytes_413Problem()
    {
        var body = "{\"definition\":\"order-fulfilment\",\"data\":{\"pad\":\"" + new string('x', 1_100_000) + "\"}}";

        using var response = await backend.Client.PostAsync(new Uri("/api/sagas", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task StartSaga_DataOverMaxDataBytes_413ProblemNamingData()
    {
        var body = "{\"definition\":\"order-fulfilment\",\"data\":{\"pad\":\"" + new string('x', 300_000) + "\"}}";

        using var response = await backend.Client.PostAsync(new Uri("/api/sagas", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty("data", out _), problem.ToString());
    }

    [Fact]
    public async Task StartSaga_SameIdempotencyKeyTwice_OneSagaSameId()
    {
        var order = await backend.NewOrderAsync(stock: 100, quantity: 2);
        var key = "order-" + order.OrderId;

        var first = await StartWithKeyAsync(key, order);
        var second = await StartWithKeyAsync(key, order);
        var other = await StartWithKeyAsync(key + "-2", await backend.NewOrderAsync());

        Assert.Equal(first.GetProperty("sagaId").GetGuid(), second.GetProperty("sagaId").GetGuid());
        Assert.False(first.GetProperty("alreadyStarted").GetBoolean());
        Assert.True(second.GetProperty("alreadyStarted").GetBoolean());
        Assert.NotEqual(first.GetProperty("sagaId").GetGuid(), other.GetProperty("sagaId").GetGuid());
        var id = first.GetProperty("sagaId").GetGuid();
        await backend.WaitForStateAsync(id, "Completed");
        await backend.WaitForStateAsync(other.GetProperty("sagaId").GetGuid(), "Completed");
        Assert.Single(await backend.GetHistoryAsync(id), h => h.Type == "SagaStarted");
        Assert.Equal(98, await backend.Ledger.GetStockAsync(order.Sku));
    }

    private async Task<JsonElement> StartWithKeyAsync(string key, Order order)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sagas", UriKind.Relative))
        {
            Content = JsonContent.Create(new { definition = TestDefinitions.Shipped, data = order.ToJson() }),
        };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await backend.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
