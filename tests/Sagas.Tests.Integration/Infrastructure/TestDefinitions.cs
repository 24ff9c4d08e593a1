using Sagas.Contracts.Definitions;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>The shipped definitions plus <c>order-fast</c>: the same saga with short timeouts so failure scenarios finish in seconds.</summary>
public static class TestDefinitions
{
    public const string Shipped = "order-fulfilment";
    public const string Fast = "order-fast";
    public const string Parallel = "order-parallel";
    public const string WaitFast = "order-wait-fast";
    public const string Pivot = "order-pivot";
    public const string DataFlow = "order-dataflow";

    /// <summary>order-parallel with a 1.5 s wait for 'packed', so a missing signal times out quickly.</summary>
    public static SagaDefinition OrderWaitFast { get; } = SagaDefinitionBuilder.Create(WaitFast)
        .Step("reserve-stock", s => Fast_(s.On("inventory").Action("reserve").Compensation("release").InGroup("reserve-and-charge")))
        .Step("charge-payment", s => Fast_(s.On("payments").Action("charge").Compensation("refund").InGroup("reserve-and-charge")))
        .Step("wait-packed", s => s.WaitFor("packed").Timeout(TimeSpan.FromSeconds(1.5)))
        .Step("book-shipment", s => Fast_(s.On("shipping").Action("book").Compensation("cancel")))
        .Build();

    /// <summary>Reserve (compensatable), charge (pivot: no way back once paid), book (retriable: retried until it succeeds).</summary>
    public static SagaDefinition OrderPivot { get; } = SagaDefinitionBuilder.Create(Pivot)
        .Step("reserve-stock", s => Fast_(s.On("inventory").Action("reserve").Compensation("release")))
        .Step("charge-payment", s => Fast_(s.On("payments").Action("charge").Kind(StepKind.Pivot)))
        .Step("book-shipment", s => s.On("shipping").Action("book").Kind(StepKind.Retriable)
            .Timeout(TimeSpan.FromSeconds(1.5)).Retry(2, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1)))
        .Build();

    /// <summary>book-shipment gets only the fields it needs plus reserve-stock's output.</summary>
    public static SagaDefinition OrderDataFlow { get; } = SagaDefinitionBuilder.Create(DataFlow)
        .Step("reserve-stock", s => Fast_(s.On("inventory").Action("reserve").Compensation("release")))
        .Step("book-shipment", s => Fast_(s.On("shipping").Action("book").Compensation("cancel").SendFields("orderId", "country", "reserve-stock")))
        .Build();

    public static SagaDefinition OrderFast { get; } = SagaDefinitionBuilder.Create(Fast)
        .Step("reserve-stock", s => Fast_(s.On("inventory").Action("reserve").Compensation("release")))
        .Step("charge-payment", s => Fast_(s.On("payments").Action("charge").Compensation("refund")))
        .Step("book-shipment", s => Fast_(s.On("shipping").Action("book").Compensation("cancel")))
        .Build();

    public static string WriteAll(string folder)
    {
        Directory.CreateDirectory(folder);
        var shipped = Path.Combine(AppContext.BaseDirectory, "definitions");
        foreach (var file in Directory.EnumerateFiles(shipped, "*.json"))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
        }

        foreach (var definition in new[] { OrderFast, OrderWaitFast, OrderPivot, OrderDataFlow })
        {
            File.WriteAllText(Path.Combine(folder, definition.Name + ".json"), DefinitionJson.Write(definition));
        }

        return folder;
    }

    private static StepBuilder Fast_(StepBuilder step) => step
        .Timeout(TimeSpan.FromSeconds(1.5))
        .Retry(3, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(2))
        .CompensationRetry(3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));
}
