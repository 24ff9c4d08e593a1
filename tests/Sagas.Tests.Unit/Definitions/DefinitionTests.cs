using Sagas.Contracts.Definitions;

namespace Sagas.Tests.Unit.Definitions;

public class DefinitionTests
{
    private const string ValidStep = """{ "name": "a", "participant": "pa", "action": "do", "compensation": "undo", "timeout": "00:00:10" }""";

    private static readonly StepDefinition[] NoSteps = [];

    [Fact]
    public void Builder_SameDefinitionAsJson_ProducesEqualModel()
    {
        var built = SagaDefinitionBuilder.Create("order-fulfilment", 1)
            .Describe("Reserve stock, charge the customer, book the shipment; undo in reverse order when a step fails.")
            .Step("reserve-stock", s => s.On("inventory").Action("reserve").Compensation("release").Timeout(TimeSpan.FromSeconds(10))
                .Retry(3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)))
            .Step("charge-payment", s => s.On("payments").Action("charge").Compensation("refund").Timeout(TimeSpan.FromSeconds(10))
                .Retry(3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)))
            .Step("book-shipment", s => s.On("shipping").Action("book").Compensation("cancel").Timeout(TimeSpan.FromSeconds(10))
                .Retry(3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)))
            .Build();

        var (parsed, errors) = DefinitionJson.Parse(File.ReadAllText(ShippedDefinitionPath()));

        Assert.Empty(errors);
        Assert.NotNull(parsed);
        Assert.Equal(built.Steps, parsed.Steps);
        Assert.Equal(built with { Steps = NoSteps }, parsed with { Steps = NoSteps });
        Assert.Equal(DefinitionJson.Write(built), DefinitionJson.Write(parsed));
    }

    [Fact]
    public void Builder_EveryOption_RoundTripsThroughJson()
    {
        var built = SagaDefinitionBuilder.Create("full", 4)
            .Describe("every knob")
            .Deadline(TimeSpan.FromHours(2))
            .Step("a", s => s.On("pa").Action("do-a").Compensation("undo-a").Timeout(TimeSpan.FromSeconds(3))
                .CompensationTimeout(TimeSpan.FromSeconds(7))
                .Retry(4, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2), 1.5)
                .CompensationRetry(9, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1), 3))
            .Step("p", s => s.On("pp").Action("do-p").Kind(StepKind.Pivot))
            .Step("r", s => s.On("pr").Action("do-r").Kind(StepKind.Retriable))
            .Build();

        var json = DefinitionJson.Write(built);
        var (parsed, errors) = DefinitionJson.Parse(json);

        Assert.Empty(errors);
        Assert.NotNull(parsed);
        Assert.Equal(built.Steps, parsed.Steps);
        Assert.Equal(built with { Steps = NoSteps }, parsed with { Steps = NoSteps });
        Assert.Contains("\"kind\": \"Pivot\"", json, StringComparison.Ordinal);
        Assert.Contains("\"compensationTimeout\": \"00:00:07\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"Name\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ShippedOrderFulfilment_IsValid()
    {
        var (definition, errors) = DefinitionJson.Parse(File.ReadAllText(ShippedDefinitionPath()));

        Assert.Empty(errors);
        Assert.NotNull(definition);
        Assert.Equal("order-fulfilment@v1", definition.Key);
        Assert.Equal(["reserve-stock", "charge-payment", "book-shipment"], definition.Steps.Select(s => s.Name));
        Assert.All(definition.Steps, s => Assert.Equal(StepKind.Compensatable, s.Kind));
        Assert.All(definition.Steps, s => Assert.False(string.IsNullOrEmpty(s.Compensation)));
        Assert.Equal(TimeSpan.FromMilliseconds(200), definition.Steps[0].Retry.InitialDelay);
        Assert.Equal(RetryPolicy.DefaultCompensation, definition.Steps[0].CompensationRetry);
    }

    [Fact]
    public void Build_MissingParticipantOnSecondStep_NamesStepsOneParticipant()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => s.On("pa").Action("do").Compensation("undo"))
            .Step("b", s => s.Action("do").Compensation("undo")));

        var error = Assert.Single(errors);
        Assert.Equal("steps[1].participant", error.Field);
    }

    [Fact]
    public void Build_ZeroTimeout_NamesStepsZeroTimeout()
    {
        var errors = BuildErrors(b => b.Step("a", s => s.On("pa").Action("do").Compensation("undo").Timeout(TimeSpan.Zero)));

        Assert.Equal(["steps[0].timeout"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_TimeoutOverSevenDays_NamesStepsZeroTimeout()
    {
        var errors = BuildErrors(b => b.Step("a", s => s.On("pa").Action("do").Compensation("undo").Timeout(TimeSpan.FromDays(8))));

        Assert.Equal(["steps[0].timeout"], errors.Select(e => e.Field));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Order")]
    [InlineData("-order")]
    [InlineData("order fulfilment")]
    public void Build_BadName_NamesName(string name)
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => SagaDefinitionBuilder.Create(name)
            .Step("a", s => s.On("pa").Action("do").Compensation("undo"))
            .Build());

        Assert.Equal(["name"], ex.Errors.Select(e => e.Field));
        Assert.Contains("name:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_VersionZero_NamesVersion()
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => SagaDefinitionBuilder.Create("x", 0)
            .Step("a", s => s.On("pa").Action("do").Compensation("undo"))
            .Build());

        Assert.Equal(["version"], ex.Errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_NoSteps_NamesSteps()
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => SagaDefinitionBuilder.Create("x").Build());

        Assert.Equal(["steps"], ex.Errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_NegativeDeadline_NamesDeadline()
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => SagaDefinitionBuilder.Create("x")
            .Deadline(TimeSpan.FromSeconds(-1))
            .Step("a", s => s.On("pa").Action("do").Compensation("undo"))
            .Build());

        Assert.Equal(["deadline"], ex.Errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_DuplicateStepNames_NamesTheSecondStep()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => s.On("pa").Action("do").Compensation("undo"))
            .Step("b", s => s.On("pb").Action("do").Compensation("undo"))
            .Step("a", s => s.On("pc").Action("do").Compensation("undo")));

        var error = Assert.Single(errors);
        Assert.Equal("steps[2].name", error.Field);
        Assert.Contains("'a'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_CompensatableAfterPivot_NamesItsKind()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => s.On("pa").Action("do").Compensation("undo"))
            .Step("p", s => s.On("pp").Action("do").Kind(StepKind.Pivot))
            .Step("c", s => s.On("pc").Action("do").Compensation("undo")));

        Assert.Equal(["steps[2].kind"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_CompensatableAfterRetriable_NamesItsKind()
    {
        var errors = BuildErrors(b => b
            .Step("r", s => s.On("pr").Action("do").Kind(StepKind.Retriable))
            .Step("c", s => s.On("pc").Action("do").Compensation("undo")));

        Assert.Equal(["steps[1].kind"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_TwoPivots_NamesTheSecondKind()
    {
        var errors = BuildErrors(b => b
            .Step("p", s => s.On("pp").Action("do").Kind(StepKind.Pivot))
            .Step("q", s => s.On("pq").Action("do").Kind(StepKind.Pivot)));

        Assert.Equal(["steps[1].kind"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_CompensatableWithoutCompensation_NamesCompensation()
    {
        var errors = BuildErrors(b => b.Step("a", s => s.On("pa").Action("do")));

        Assert.Equal(["steps[0].compensation"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_RetriableWithCompensation_NamesCompensation()
    {
        var errors = BuildErrors(b => b
            .Step("p", s => s.On("pp").Action("do").Kind(StepKind.Pivot))
            .Step("r", s => s.On("pr").Action("do").Compensation("undo").Kind(StepKind.Retriable)));

        Assert.Equal(["steps[1].compensation"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_UnknownKind_NamesKind()
    {
        var errors = BuildErrors(b => b.Step("a", s => s.On("pa").Action("do").Compensation("undo").Kind((StepKind)42)));

        Assert.Equal(["steps[0].kind"], errors.Select(e => e.Field));
    }

    [Theory]
    [InlineData(0, 100, 1000, 2.0, "steps[0].retry.maxAttempts")]
    [InlineData(1001, 100, 1000, 2.0, "steps[0].retry.maxAttempts")]
    [InlineData(3, -1, 1000, 2.0, "steps[0].retry.initialDelay")]
    [InlineData(3, 2000, 1000, 2.0, "steps[0].retry.maxDelay")]
    [InlineData(3, 100, 1000, 0.5, "steps[0].retry.multiplier")]
    [InlineData(3, 100, 1000, 11.0, "steps[0].retry.multiplier")]
    [InlineData(3, 100, 1000, double.NaN, "steps[0].retry.multiplier")]
    public void Build_BadRetryPolicy_NamesThePolicyField(int maxAttempts, int initialMs, int maxMs, double multiplier, string field)
    {
        var errors = BuildErrors(b => b.Step("a", s => s.On("pa").Action("do").Compensation("undo")
            .Retry(maxAttempts, TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(maxMs), multiplier)));

        Assert.Equal([field], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_BadCompensationRetry_NamesCompensationRetryField()
    {
        var errors = BuildErrors(b => b.Step("a", s => s.On("pa").Action("do").Compensation("undo")
            .CompensationRetry(0, TimeSpan.Zero)));

        Assert.Equal(["steps[0].compensationRetry.maxAttempts"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_ManyProblems_ListsEveryOne()
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => SagaDefinitionBuilder.Create("")
            .Step("a", s => s.Action("do").Compensation("undo").Timeout(TimeSpan.Zero))
            .Step("a", s => s.On("pb").Compensation("undo"))
            .Build());

        Assert.Equal(
            ["name", "steps[0].participant", "steps[0].timeout", "steps[1].name", "steps[1].action"],
            ex.Errors.Select(e => e.Field));
    }

    [Fact]
    public void Parse_InvalidValues_NamesFieldsWithoutThrowing()
    {
        const string json = """
            {
              "name": "x",
              "steps": [
                { "name": "a", "participant": "pa", "action": "do", "compensation": "undo", "timeout": "00:00:10" },
                { "name": "b", "participant": "", "action": "do", "compensation": "undo", "timeout": "00:00:00",
                  "retry": { "maxAttempts": 0 } }
              ]
            }
            """;

        var (definition, errors) = DefinitionJson.Parse(json);

        Assert.Null(definition);
        Assert.Equal(["steps[1].participant", "steps[1].timeout", "steps[1].retry.maxAttempts"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Parse_WrongTypeDeepInside_NamesThePath()
    {
        var json = $$"""{ "name": "x", "steps": [ {{ValidStep}}, { "name": "b", "participant": "pb", "action": "do", "compensation": "undo", "timeout": "soon" } ] }""";

        var (definition, errors) = DefinitionJson.Parse(json);

        Assert.Null(definition);
        Assert.Equal("steps[1].timeout", Assert.Single(errors).Field);
        Assert.DoesNotContain("Path:", errors[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WrongTypeInRetryPolicy_NamesThePath()
    {
        var json = $$"""{ "name": "x", "steps": [ { "name": "a", "participant": "pa", "action": "do", "compensation": "undo", "retry": { "maxAttempts": "three" } } ] }""";

        var (definition, errors) = DefinitionJson.Parse(json);

        Assert.Null(definition);
        Assert.Equal("steps[0].retry.maxAttempts", Assert.Single(errors).Field);
    }

    [Fact]
    public void Parse_UnknownKind_NamesKindPath()
    {
        var json = $$"""{ "name": "x", "steps": [ { "name": "a", "participant": "pa", "action": "do", "compensation": "undo", "kind": "Sometimes" } ] }""";

        var (_, errors) = DefinitionJson.Parse(json);

        Assert.Equal("steps[0].kind", Assert.Single(errors).Field);
    }

    [Fact]
    public void Parse_TruncatedJson_ReturnsErrorNotException()
    {
        var (definition, errors) = DefinitionJson.Parse("""{ "name": "x", "steps": [ { "name": "a" """);

        Assert.Null(definition);
        var error = Assert.Single(errors);
        Assert.StartsWith("steps[0]", error.Field, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_JsonNull_NamesRoot()
    {
        var (definition, errors) = DefinitionJson.Parse("null");

        Assert.Null(definition);
        Assert.Equal("$", Assert.Single(errors).Field);
    }

    [Fact]
    public void Parse_UnknownTopLevelProperty_IsRejected()
    {
        var json = $$"""{ "name": "x", "stpes": [], "steps": [ {{ValidStep}} ] }""";

        var (definition, errors) = DefinitionJson.Parse(json);

        Assert.Null(definition);
        var error = Assert.Single(errors);
        Assert.Contains("stpes", error.Field + " " + error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownStepProperty_IsRejectedNamingTheStep()
    {
        var json = $$"""{ "name": "x", "steps": [ {{ValidStep}}, { "name": "b", "participant": "pb", "action": "do", "compensation": "undo", "retries": 5 } ] }""";

        var (definition, errors) = DefinitionJson.Parse(json);

        Assert.Null(definition);
        var error = Assert.Single(errors);
        Assert.StartsWith("steps[1]", error.Field, StringComparison.Ordinal);
        Assert.Contains("retries", error.Field + " " + error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_CommentsAndTrailingCommas_AreAccepted()
    {
        var json = $$"""
            {
              // a comment
              "name": "x",
              "steps": [ {{ValidStep}}, ],
            }
            """;

        var (definition, errors) = DefinitionJson.Parse(json);

        Assert.Empty(errors);
        Assert.Equal("x", definition!.Name);
    }

    [Fact]
    public void ParseOrThrow_Invalid_ThrowsWithErrors()
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => DefinitionJson.ParseOrThrow("""{ "name": "x", "steps": [] }"""));

        Assert.Equal(["steps"], ex.Errors.Select(e => e.Field));
    }

    [Fact]
    public void DelayBefore_Attempts_GrowsByMultiplierAndCapsAtMaxDelay()
    {
        var policy = new RetryPolicy { InitialDelay = TimeSpan.FromMilliseconds(100), Multiplier = 3, MaxDelay = TimeSpan.FromSeconds(1) };

        Assert.Equal(
            [100, 300, 900, 1000, 1000],
            Enumerable.Range(2, 5).Select(n => (int)policy.DelayBefore(n).TotalMilliseconds));
    }

    private static IReadOnlyList<DefinitionError> BuildErrors(Func<SagaDefinitionBuilder, SagaDefinitionBuilder> configure)
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => configure(SagaDefinitionBuilder.Create("x")).Build());
        return ex.Errors;
    }

    internal static string ShippedDefinitionPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Coordinator", "definitions", "order-fulfilment.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("src/Coordinator/definitions/order-fulfilment.json not found above " + AppContext.BaseDirectory);
    }
}
