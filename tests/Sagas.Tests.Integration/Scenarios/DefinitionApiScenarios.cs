using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sagas.Contracts.Definitions;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>Registering definitions over HTTP (Admin only) and reading them back in the file format.</summary>
public sealed class DefinitionApiScenarios(EmbeddedBackend backend) : IClassFixture<EmbeddedBackend>
{
    [Fact]
    public async Task Register_NewVersion_201WithLocationThenStartable()
    {
        var definition = NewDefinition();

        using var response = await PostAsync(DefinitionJson.Write(definition));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal($"/api/definitions/{definition.Name}/1", response.Headers.Location?.OriginalString);
        var stored = await backend.Client.GetStringAsync(response.Headers.Location);
        Assert.Equal(Normalize(DefinitionJson.Write(definition)), Normalize(stored));
        var order = await backend.NewOrderAsync();
        var id = await backend.StartAsync(definition.Name, order);
        await backend.WaitForStateAsync(id, "Completed");
    }

    [Fact]
    public async Task Register_SameContentAgain_200Unchanged()
    {
        var json = DefinitionJson.Write(NewDefinition());
        using var first = await PostAsync(json);

        using var second = await PostAsync(json);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
    }

    [Fact]
    public async Task Register_SameVersionDifferentContent_409ProblemAndOriginalKept()
    {
        var definition = NewDefinition();
        using var first = await PostAsync(DefinitionJson.Write(definition));

        using var second = await PostAsync(DefinitionJson.Write(definition with { Description = "changed" }));

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal("application/problem+json", second.Content.Headers.ContentType?.MediaType);
        var versions = await backend.Client.GetFromJsonAsync<JsonElement>(new Uri($"/api/definitions/{definition.Name}", UriKind.Relative));
        Assert.False(Assert.Single(versions.EnumerateArray()).TryGetProperty("description", out _));
    }

    [Fact]
    public async Task Register_NextVersion_BothVersionsListed()
    {
        var definition = NewDefinition();
        using var v1 = await PostAsync(DefinitionJson.Write(definition));

        using var v2 = await PostAsync(DefinitionJson.Write(definition with { Version = 2, Description = "second" }));

        Assert.Equal(HttpStatusCode.Created, v2.StatusCode);
        var versions = await backend.Client.GetFromJsonAsync<JsonElement>(new Uri($"/api/definitions/{definition.Name}", UriKind.Relative));
        Assert.Equal([1, 2], versions.EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
    }

    public static TheoryData<string, string, string> InvalidDefinitions => new()
    {
        // case, body, field named in errors
        { "no steps", "{\"name\":\"bad-def\",\"version\":1,\"steps\":[]}", "steps" },
        { "step without participant", "{\"name\":\"bad-def\",\"version\":1,\"steps\":[{\"name\":\"a\",\"action\":\"do\"}]}", "steps[0].participant" },
        { "unknown field", "{\"name\":\"bad-def\",\"version\":1,\"colour\":\"red\",\"steps\":[]}", "colour" },
        { "malformed JSON", "{\"name\":", "" },
    };

    [Theory]
    [MemberData(nameof(InvalidDefinitions))]
    public async Task Register_InvalidDefinition_400ProblemListingFields(string name, string body, string field)
    {
        using var response = await PostAsync(body);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{name}: {(int)response.StatusCode}");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var errors = problem.GetProperty("errors");
        Assert.True(errors.EnumerateObject().Any(e => e.Name.StartsWith(field, StringComparison.Ordinal)), $"{name}: errors do not name {field}: {errors}");
    }

    [Theory]
    [InlineData(TestKeys.Operator)]
    [InlineData(TestKeys.Reader)]
    public async Task Register_BelowAdmin_403AndNotRegistered(string key)
    {
        var definition = NewDefinition();
        using var client = backend.CreateClient(key);

        using var response = await client.PostAsync(new Uri("/api/definitions", UriKind.Relative), new StringContent(DefinitionJson.Write(definition), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await backend.Client.GetAsync(new Uri($"/api/definitions/{definition.Name}", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task List_Definitions_SameShapeAsTheFileFormatWithoutNulls()
    {
        var list = await backend.Client.GetStringAsync(new Uri("/api/definitions", UriKind.Relative));

        var shipped = JsonNode.Parse(list)!.AsArray().Single(d => d!["name"]!.GetValue<string>() == TestDefinitions.Shipped)!;
        var file = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "definitions", TestDefinitions.Shipped + ".json"));
        Assert.Equal(Normalize(file), Normalize(shipped.ToJsonString()));
        Assert.DoesNotContain("null", list, StringComparison.Ordinal);
    }

    private static SagaDefinition NewDefinition() => SagaDefinitionBuilder.Create("api-def-" + Guid.NewGuid().ToString("N")[..8])
        .Step("reserve-stock", s => s.On("inventory").Action("reserve").Compensation("release"))
        .Step("charge-payment", s => s.On("payments").Action("charge").Compensation("refund"))
        .Build();

    private static string Normalize(string json) => DefinitionJson.Write(DefinitionJson.ParseOrThrow(json));

    private Task<HttpResponseMessage> PostAsync(string body) =>
        backend.Client.PostAsync(new Uri("/api/definitions", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
}
