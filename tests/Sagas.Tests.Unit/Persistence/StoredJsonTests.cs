using Microsoft.EntityFrameworkCore;
using Sagas.Coordinator.Engine;
using Sagas.Coordinator.Persistence;

namespace Sagas.Tests.Unit.Persistence;

/// <summary>
/// The JSON columns of the saga row (steps, deferred replies, signals) leave defaults out when written, and read rows
/// written before that, with every property spelled out, to the same values.
/// </summary>
public class StoredJsonTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 27, 17, 30, 0, TimeSpan.Zero);

    [Fact]
    public void Steps_WrittenWithoutDefaults_ReadBackEqual()
    {
        var steps = new List<StepState>
        {
            new() { Name = "reserve", Status = StepStatus.Succeeded, Attempts = 1, StartedAt = At, FinishedAt = At.AddSeconds(1) },
            new() { Name = "charge", Status = StepStatus.Compensated, Attempts = 2, CompensationAttempts = 1, DueAt = At, StartedAt = At, FinishedAt = At, CompensationStartedAt = At, CompensatedAt = At, LastError = "declined" },
            new() { Name = "ship" },
        };

        var json = (string)Converter("Steps").ConvertToProvider(steps)!;
        var read = (List<StepState>)Converter("Steps").ConvertFromProvider(json)!;

        Assert.Equal(steps, read);
        Assert.Contains("""{"name":"ship"}""", json, StringComparison.Ordinal);
        Assert.DoesNotContain("null", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Steps_RowWrittenWithEveryProperty_ReadsTheSame()
    {
        const string Written = """
            [{"name":"reserve","status":"Succeeded","attempts":1,"compensationAttempts":0,"dueAt":null,"startedAt":"2026-11-27T17:30:00+00:00","finishedAt":null,"compensationStartedAt":null,"compensatedAt":null,"lastError":null},
             {"name":"ship","status":"Pending","attempts":0,"compensationAttempts":0,"dueAt":null,"startedAt":null,"finishedAt":null,"compensationStartedAt":null,"compensatedAt":null,"lastError":null}]
            """;

        var read = (List<StepState>)Converter("Steps").ConvertFromProvider(Written)!;

        Assert.Equal([new StepState { Name = "reserve", Status = StepStatus.Succeeded, Attempts = 1, StartedAt = At }, new StepState { Name = "ship" }], read);
    }

    [Fact]
    public void Signals_AConsumedAndAPendingSignal_ReadBackEqual()
    {
        var signals = new List<ReceivedSignal> { new("approve", null, At, "ops", Consumed: false), new("pay", """{"x":1}""", At, "api", Consumed: true) };

        var json = (string)Converter("Signals").ConvertToProvider(signals)!;

        Assert.Equal(signals, (List<ReceivedSignal>)Converter("Signals").ConvertFromProvider(json)!);
        Assert.DoesNotContain("consumed\":false", json, StringComparison.Ordinal);
    }

    private static Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter Converter(string property)
    {
        using var db = new SqliteSagasDbContext(new DbContextOptionsBuilder<SqliteSagasDbContext>().UseSqlite("Data Source=:memory:").Options);
        return db.Model.FindEntityType(typeof(SagaInstance))!.FindProperty(property)!.GetValueConverter()!;
    }
}
