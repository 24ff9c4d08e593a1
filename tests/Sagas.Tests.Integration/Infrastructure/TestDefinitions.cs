using Sagas.Contracts.Definitions;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>The shipped definitions plus <c>order-fast</c>: the same saga with short timeouts so failure scenarios finish in seconds.</summary>
public static class TestDefinitions
{
    public const string Shipped = "order-fulfilment";
    public const string Fast = "order-fast";

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

        File.WriteAllText(Path.Combine(folder, Fast + ".json"), DefinitionJson.Write(OrderFast));
        return folder;
    }

    private static StepBuilder Fast_(StepBuilder step) => step
        .Timeout(TimeSpan.FromSeconds(1.5))
        .Retry(3, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(2))
        .CompensationRetry(3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));
}
