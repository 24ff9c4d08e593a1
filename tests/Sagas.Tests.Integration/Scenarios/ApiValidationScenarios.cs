using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// The HTTP API refuses bad starts with 400 problem details that name the field, never a 500; starts are
/// idempotent by saga id; unknown sagas are 404 problems.
/// </summary>
public sealed class ApiValidationScenarios(EmbeddedBackend backend) : IClassFixture<EmbeddedBackend>
{
    private const string ValidData = "{\"orderId\":\"o-1\",\"customerId\":\"c-1\",\"sku\":\"sku-1\",\"quantity\":1,\"amount\":1,\"country\":\"NL\"}";

    public static TheoryData<string, string?, string?, string> BadStarts => new()
    {
        // case, content type (null: no content at all), body, field named in errors
        { "no body", null, null, "body" },
        { "empty JSON body", "application/json", "", "body" },
        { "malformed JSON", "application/json", "{\"definition\": \"order-fulfilment\", \"data\": {", "body" },
        { "JSON array", "application/json", "[{\"definition\":\"order-fulfilment\"}]", "body" },
        { "JSON string", "application/json", "\"order-fulfilment\"", "body" },
        { "missing definition", "application/json", "{\"data\":" + ValidData + "}", "definition" },
        { "blank definition", "application/json", "{\"definition\":\"  \",\"data\":" + ValidData + "}", "definition" },
        { "definition not a string", "application/json", "{\"definition\":42,\"data\":" + ValidData + "}", "definition" },
        { "definition too long", "application/json", "{\"definition\":\"" + new string('d', 101) + "\",\"data\":" + ValidData + "}", "definition" },
        { "missing data", "application/json", "{\"definition\":\"order-fulfilment\"}", "data" },
        { "data an array", "application/json", "{\"definition\":\"order-fulfilment\",\"data\":[1,2]}", "data" },
        { "data a string", "application/json", "{\"definition\":\"order-fulfilment\",\"data\":\"x\"}", "data" },
        { "sagaId not a GUID", "application/json", "{\"sagaId\":\"not-a-guid\",\"definition\":\"order-fulfilment\",\"data\":" + ValidData + "}", "sagaId" },
        { "sagaId a number", "application/json", "{\"sagaId\":7,\"definition\":\"order-fulfilment\",\"data\":" + ValidData + "}", "sagaId" },
        { "sagaId empty GUID", "application/json", "{\"sagaId\":\"00000000-0000-0000-0000-000000000000\",\"definition\":\"order-fulfilment\",\"data\":" + ValidData + "}", "sagaId" },
        { "version 0", "application/json", "{\"definition\":\"order-fulfilment\",\"version\":0,\"data\":" + ValidData + "}", "version" },
        { "version negative", "application/json", "{\"definition\":\"order-fulfilment\",\"version\":-3,\"data\":" + ValidData + "}", "version" },
        { "version fractional", "application/json", "{\"definition\":\"order-fulfilment\",\"version\":1.5,\"data\":" + ValidData + "}", "version" },
        { "version a string", "application/json", "{\"definition\":\"order-fulfilment\",\"version\":\"1\",\"data\":" + ValidData + "}", "version" },
        { "businessKey too long", "application/json", "{\"definition\":\"order-fulfilment\",\"businessKey\":\"" + new string('k', 201) + "\",\"data\":" + ValidData + "}", "businessKey" },
        { "tenant not a string", "application/json", "{\"definition\":\"order-fulfilment\",\"tenant\":{},\"data\":" + ValidData + "}", "tenant" },
    };

    [Theory]
    [MemberData(nameof(BadStarts))]
    public async Task StartSaga_InvalidRequest_400ProblemNamingTheField(string name, string? contentType, string? body, string field)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sagas", UriKind.Relative));
        if (contentType is not null)
        {
            request.Content = new StringContent(body ?? "", Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        using var response = await backend.Client.SendAsync(request);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, name);
        Assert.True(problem.TryGetProperty("errors", out var errors), $"{name}: no 'errors' in {problem}");
        Assert.True(errors.TryGetProperty(field, out var messages), $"{name}: errors do not name '{field}': {errors}");
        Assert.Contains(messages.EnumerateArray(), m => !string.IsNullOrWhiteSpace(m.GetString()));
        await AssertHealthyAsync();
    }

    [Fact]
    public async Task StartSaga_DataOverTheLimit_400Or413ProblemNamingData()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sagas", UriKind.Relative))
        {
            Content = new StringContent("{\"definition\":\"order-fulfilment\",\"data\":{\"pad\":\"" + new string('x', 300_000) + "\"}}", Encoding.UTF8, "application/json"),
        };

        using var response = await backend.Client.SendAsync(request);

        // 400 (validation) or 413 (content too large) are both right; what matters is the named field and no 500.
        var status = response.StatusCode == HttpStatusCode.RequestEntityTooLarge ? HttpStatusCode.RequestEntityTooLarge : HttpStatusCode.BadRequest;
        var problem = await AssertProblemAsync(response, status, "data too large");
        Assert.Contains("bytes", problem.GetProperty("errors").GetProperty("data")[0].GetString(), StringComparison.Ordinal);
        await AssertHealthyAsync();
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task StartSaga_NonJsonContentType_415Problem(string contentType)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sagas", UriKind.Relative))
        {
            Content = new StringContent("{\"definition\":\"order-fulfilment\",\"data\":" + ValidData + "}", Encoding.UTF8, contentType),
        };

        using var response = await backend.Client.SendAsync(request);

        // The endpoint declares Accepts("application/json"), so routing answers 415 before the handler's own 400 check.
        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, contentType);
        await AssertHealthyAsync();
    }

    [Fact]
    public async Task StartSaga_UnknownDefinition_400ProblemNamingTheDefinition()
    {
        var name = "no-such-definition-" + Guid.NewGuid().ToString("N")[..6];

        using var response = await PostAsync(new { definition = name, data = JsonDocument.Parse(ValidData).RootElement });

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "unknown definition");
        Assert.Contains(name, problem.GetProperty("errors").GetProperty("definition")[0].GetString(), StringComparison.Ordinal);
        Assert.Contains(name, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartSaga_UnknownVersionOfKnownDefinition_400ProblemNamingTheVersion()
    {
        using var response = await PostAsync(new { definition = TestDefinitions.Shipped, version = 99, data = JsonDocument.Parse(ValidData).RootElement });

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "unknown version");
        Assert.Contains($"{TestDefinitions.Shipped}@v99", problem.GetProperty("errors").GetProperty("definition")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartSaga_SameSagaIdTwice_Both202SameIdOneSaga()
    {
        var order = await backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var id = Guid.NewGuid();

        using var first = await PostAsync(new { definition = TestDefinitions.Shipped, sagaId = id, data = order.ToJson() });
        using var second = await PostAsync(new { definition = TestDefinitions.Shipped, sagaId = id, data = order.ToJson() });

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        var a = await first.Content.ReadFromJsonAsync<JsonElement>();
        var b = await second.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(id, a.GetProperty("sagaId").GetGuid());
        Assert.Equal(id, b.GetProperty("sagaId").GetGuid());
        Assert.False(a.GetProperty("alreadyStarted").GetBoolean());
        Assert.True(b.GetProperty("alreadyStarted").GetBoolean());
        Assert.Equal($"/api/sagas/{id}", first.Headers.Location?.OriginalString);
        await backend.WaitForStateAsync(id, "Completed");
        Assert.Single(await backend.GetHistoryAsync(id), h => h.Type == "SagaStarted");
        Assert.Equal(98, await backend.Ledger.GetStockAsync(order.Sku));
        Assert.Single(await backend.Ledger.GetShipmentsAsync(order.OrderId));
    }

    [Fact]
    public async Task StartSaga_SameSagaIdDifferentDefinition_409ProblemAndFirstSagaUntouched()
    {
        var order = await backend.NewOrderAsync(stock: 100, balance: 1000m, amount: 25m, quantity: 2);
        var id = await backend.StartAsync(TestDefinitions.Shipped, order);

        using var response = await PostAsync(new { definition = TestDefinitions.Fast, sagaId = id, data = order.ToJson() });

        var problem = await AssertProblemAsync(response, HttpStatusCode.Conflict, "different definition");
        Assert.Contains(TestDefinitions.Shipped, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var saga = await backend.WaitForStateAsync(id, "Completed");
        Assert.Equal(TestDefinitions.Shipped, saga.GetProperty("definition").GetString());
        Assert.Single(await backend.GetHistoryAsync(id), h => h.Type == "SagaStarted");
    }

    [Fact]
    public async Task GetSaga_UnknownId_404Problem()
    {
        var id = Guid.NewGuid();

        using var saga = await backend.Client.GetAsync(new Uri($"/api/sagas/{id}", UriKind.Relative));
        using var history = await backend.Client.GetAsync(new Uri($"/api/sagas/{id}/history", UriKind.Relative));

        Assert.Contains(id.ToString(), (await AssertProblemAsync(saga, HttpStatusCode.NotFound, "saga")).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains(id.ToString(), (await AssertProblemAsync(history, HttpStatusCode.NotFound, "history")).GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertHealthyAsync();
    }

    [Fact]
    public async Task GetSaga_IdNotAGuid_404NotA500()
    {
        using var response = await backend.Client.GetAsync(new Uri("/api/sagas/not-a-guid", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private Task<HttpResponseMessage> PostAsync(object body) => backend.Client.PostAsJsonAsync(new Uri("/api/sagas", UriKind.Relative), body);

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string because)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{because}: expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(text);
        var problem = document.RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()), $"{because}: problem without a title: {text}");
        return problem;
    }

    private async Task AssertHealthyAsync()
    {
        using var ready = await backend.Client.GetAsync(new Uri("/health/ready", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}
