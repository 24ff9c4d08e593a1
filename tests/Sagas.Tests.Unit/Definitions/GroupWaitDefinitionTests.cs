using Sagas.Contracts.Definitions;

namespace Sagas.Tests.Unit.Definitions;

/// <summary>Validator rules and the JSON form for parallel groups, wait steps and data fields.</summary>
public class GroupWaitDefinitionTests
{
    private static readonly StepDefinition[] NoSteps = [];

    [Fact]
    public void Builder_GroupsWaitsAndDataFields_EqualsTheJsonForm()
    {
        var built = SagaDefinitionBuilder.Create("fulfil", 2)
            .Step("reserve", s => s.On("inventory").Action("reserve").Compensation("release").SendFields("orderId", "items"))
            .Step("charge", s => s.On("payments").Action("charge").Compensation("refund").InGroup("pay-and-pack").Timeout(TimeSpan.FromSeconds(20)))
            .Step("label", s => s.On("shipping").Action("label").Compensation("void").InGroup("pay-and-pack"))
            .Step("packed", s => s.WaitFor("packed").Timeout(TimeSpan.FromHours(4)))
            .Step("ship", s => s.On("shipping").Action("ship").Kind(StepKind.Pivot))
            .Build();
        const string json = """
            {
              "name": "fulfil",
              "version": 2,
              "steps": [
                { "name": "reserve", "participant": "inventory", "action": "reserve", "compensation": "release", "dataFields": ["orderId", "items"] },
                { "name": "charge", "participant": "payments", "action": "charge", "compensation": "refund", "group": "pay-and-pack", "timeout": "00:00:20" },
                { "name": "label", "participant": "shipping", "action": "label", "compensation": "void", "group": "pay-and-pack" },
                { "name": "packed", "waitFor": "packed", "timeout": "04:00:00" },
                { "name": "ship", "participant": "shipping", "action": "ship", "kind": "Pivot" }
              ]
            }
            """;

        var (parsed, errors) = DefinitionJson.Parse(json);

        Assert.Empty(errors);
        Assert.NotNull(parsed);
        Assert.Equal(built with { Steps = NoSteps }, parsed with { Steps = NoSteps });
        Assert.Equal(built.Steps.Count, parsed.Steps.Count);
        for (var i = 0; i < built.Steps.Count; i++)
        {
            // DataFields is a list: compare it by content, the rest of the record by value.
            Assert.Equal(built.Steps[i].DataFields, parsed.Steps[i].DataFields);
            Assert.Equal(built.Steps[i] with { DataFields = null }, parsed.Steps[i] with { DataFields = null });
        }

        Assert.Equal(DefinitionJson.Write(built), DefinitionJson.Write(parsed));
        Assert.Equal(["orderId", "items"], parsed.Steps[0].DataFields);
        Assert.Equal(["pay-and-pack", "pay-and-pack"], parsed.Steps.Skip(1).Take(2).Select(s => s.Group));
        Assert.True(parsed.Steps[3].IsWait);
        Assert.Equal("packed", parsed.Steps[3].WaitFor);
        Assert.Equal("", parsed.Steps[3].Participant);

        var written = DefinitionJson.Write(built);
        Assert.Contains("\"group\": \"pay-and-pack\"", written, StringComparison.Ordinal);
        Assert.Contains("\"waitFor\": \"packed\"", written, StringComparison.Ordinal);
        Assert.Contains("\"dataFields\": [", written, StringComparison.Ordinal);
        var (again, againErrors) = DefinitionJson.Parse(written);
        Assert.Empty(againErrors);
        Assert.Equal(written, DefinitionJson.Write(again!));
    }

    [Fact]
    public void Build_GroupNameComesBackAfterAnotherStep_NamesTheReturningStepsGroup()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => Comp(s).InGroup("g"))
            .Step("b", s => Comp(s).InGroup("g"))
            .Step("c", s => Comp(s))
            .Step("d", s => Comp(s).InGroup("g")));

        var error = Assert.Single(errors);
        Assert.Equal("steps[3].group", error.Field);
        Assert.Contains("'g'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_GroupInterruptedByAnotherGroup_NamesTheReturningStep()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => Comp(s).InGroup("g"))
            .Step("b", s => Comp(s).InGroup("h"))
            .Step("c", s => Comp(s).InGroup("g")));

        Assert.Equal(["steps[2].group"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_TwoGroupsBackToBackAndSingleStepGroup_AreValid()
    {
        var definition = SagaDefinitionBuilder.Create("x")
            .Step("a", s => Comp(s).InGroup("g"))
            .Step("b", s => Comp(s).InGroup("g"))
            .Step("c", s => Comp(s).InGroup("h"))
            .Step("d", s => Comp(s).InGroup("solo"))
            .Build();

        Assert.Equal(["g", "g", "h", "solo"], definition.Steps.Select(s => s.Group));
    }

    [Fact]
    public void Build_PivotInAGroup_NamesItsGroup()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => Comp(s))
            .Step("p", s => s.On("pp").Action("do").Kind(StepKind.Pivot).InGroup("g"))
            .Step("r", s => s.On("pr").Action("do").Kind(StepKind.Retriable).InGroup("g")));

        var error = Assert.Single(errors);
        Assert.Equal("steps[1].group", error.Field);
        Assert.Equal("the pivot cannot run in a parallel group", error.Message);
    }

    [Fact]
    public void Build_WaitStepInAGroup_NamesItsGroup()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => Comp(s).InGroup("g"))
            .Step("w", s => s.WaitFor("packed").InGroup("g")));

        var error = Assert.Single(errors);
        Assert.Equal("steps[1].group", error.Field);
        Assert.Equal("a wait step cannot be part of a parallel group", error.Message);
    }

    [Theory]
    [InlineData("Upper")]
    [InlineData("has space")]
    [InlineData("-starts-with-dash")]
    public void Build_BadGroupName_NamesGroup(string group)
    {
        var errors = BuildErrors(b => b.Step("a", s => Comp(s)).Step("b", s => Comp(s).InGroup(group)));

        Assert.Equal(["steps[1].group"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_WaitStepWithParticipantActionOrCompensation_NamesWaitFor()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => Comp(s))
            .Step("b", s => Comp(s))
            .Step("w", s => s.WaitFor("packed").On("pw").Action("do").Compensation("undo")));

        var error = Assert.Single(errors);
        Assert.Equal("steps[2].waitFor", error.Field);
        Assert.Contains("calls no participant", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(StepKind.Pivot)]
    [InlineData(StepKind.Retriable)]
    public void Build_WaitStepWithAKind_NamesKind(StepKind kind)
    {
        var errors = BuildErrors(b => b.Step("a", s => Comp(s)).Step("w", s => s.WaitFor("packed").Kind(kind)));

        Assert.Contains(errors, e => e.Field == "steps[1].kind" && e.Message.Contains("wait step", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_BadSignalName_NamesWaitFor()
    {
        var errors = BuildErrors(b => b.Step("a", s => Comp(s)).Step("w", s => s.WaitFor("Not Valid")));

        Assert.Equal(["steps[1].waitFor"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_WaitStepAfterPivot_NamesItsKind()
    {
        var errors = BuildErrors(b => b
            .Step("p", s => s.On("pp").Action("do").Kind(StepKind.Pivot))
            .Step("w", s => s.WaitFor("packed")));

        Assert.Equal(["steps[1].kind"], errors.Select(e => e.Field));
    }

    [Fact]
    public void Build_ValidWaitStep_NeedsNoParticipantActionOrCompensation()
    {
        var definition = SagaDefinitionBuilder.Create("x")
            .Step("w", s => s.WaitFor("packed").Timeout(TimeSpan.FromDays(7)))
            .Step("a", s => Comp(s))
            .Build();

        Assert.True(definition.Steps[0].IsWait);
        Assert.Equal(StepKind.Compensatable, definition.Steps[0].Kind);
    }

    [Fact]
    public void Build_BlankDataField_NamesItsIndex()
    {
        var errors = BuildErrors(b => b
            .Step("a", s => Comp(s).SendFields("orderId"))
            .Step("b", s => Comp(s).SendFields(" ", "orderId", "")));

        Assert.Equal(["steps[1].dataFields[0]", "steps[1].dataFields[2]"], errors.Select(e => e.Field));
        Assert.All(errors, e => Assert.Equal("must be a field name", e.Message));
    }

    [Fact]
    public void Parse_GroupWaitAndDataFieldErrors_NamesEveryField()
    {
        const string json = """
            {
              "name": "x",
              "steps": [
                { "name": "a", "participant": "pa", "action": "do", "compensation": "undo", "group": "g", "dataFields": [""] },
                { "name": "w", "waitFor": "packed", "participant": "pw" },
                { "name": "b", "participant": "pb", "action": "do", "compensation": "undo", "group": "h" },
                { "name": "c", "participant": "pc", "action": "do", "compensation": "undo", "group": "g" }
              ]
            }
            """;

        var (definition, errors) = DefinitionJson.Parse(json);

        Assert.Null(definition);
        Assert.Equal(["steps[0].dataFields[0]", "steps[1].waitFor", "steps[3].group"], errors.Select(e => e.Field));
    }

    private static StepBuilder Comp(StepBuilder s) => s.On("pa").Action("do").Compensation("undo");

    private static IReadOnlyList<DefinitionError> BuildErrors(Func<SagaDefinitionBuilder, SagaDefinitionBuilder> configure)
    {
        var ex = Assert.Throws<InvalidDefinitionException>(() => configure(SagaDefinitionBuilder.Create("x")).Build());
        return ex.Errors;
    }
}
