using System.Globalization;
using System.Text.Json.Nodes;

namespace Sagas.Chaos;

public enum SagaKind
{
    /// <summary>Should complete.</summary>
    Ok,

    /// <summary>The customer's balance is short: payments declines, stock is released.</summary>
    Declined,

    /// <summary>Destination AQ: shipping refuses, payment refunded, stock released.</summary>
    Refused,

    /// <summary>A SKU with little stock: the first few complete, later ones fail at the first step.</summary>
    Scarce,
}

public sealed record SagaSpec(int Index, Guid Id, SagaKind Kind, string Sku, string Customer, int Quantity, long AmountCents, string Country)
{
    public JsonObject Data() => new()
    {
        ["orderId"] = $"o-{Index}",
        ["customerId"] = Customer,
        ["sku"] = Sku,
        ["quantity"] = Quantity,
        ["amount"] = decimal.Parse((AmountCents / 100m).ToString("0.00", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
        ["country"] = Country,
    };
}

/// <summary>The seeded stream of order-fulfilment sagas and the reference data they need.</summary>
public static class Workload
{
    public const string Definition = "order-fulfilment";
    public const string PoorCustomer = "cust-poor";
    public const string ScarceSku = "sku-scarce";
    public const long PoorBalanceCents = 100;
    public const long ScarceStock = 15;

    private static readonly string[] Countries = ["NL", "BE", "DE", "FR", "GB", "IE", "ES", "IT", "SE", "US"];

    public static readonly IReadOnlyDictionary<string, long> SeedStock = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["sku-a"] = 1_000_000,
        ["sku-b"] = 1_000_000,
        ["sku-c"] = 1_000_000,
        ["sku-d"] = 1_000_000,
        [ScarceSku] = ScarceStock,
    };

    public static readonly IReadOnlyDictionary<string, long> SeedBalances = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["cust-1"] = 500_000_00,
        ["cust-2"] = 500_000_00,
        ["cust-3"] = 500_000_00,
        ["cust-4"] = 500_000_00,
        [PoorCustomer] = PoorBalanceCents,
    };

    public static List<SagaSpec> Generate(int count, Random random)
    {
        var list = new List<SagaSpec>(count);
        for (var i = 0; i < count; i++)
        {
            var roll = random.NextDouble();
            var kind = roll switch
            {
                < 0.10 => SagaKind.Declined,
                < 0.20 => SagaKind.Refused,
                < 0.25 => SagaKind.Scarce,
                _ => SagaKind.Ok,
            };
            var sku = kind == SagaKind.Scarce ? ScarceSku : $"sku-{(char)('a' + random.Next(4))}";
            var customer = kind == SagaKind.Declined ? PoorCustomer : $"cust-{1 + random.Next(4)}";
            var country = kind == SagaKind.Refused ? "AQ" : Countries[random.Next(Countries.Length)];
            var amount = 200 + random.Next(9_800);
            list.Add(new SagaSpec(i, Poison.RandomGuid(random), kind, sku, customer, 1 + random.Next(3), amount, country));
        }

        return list;
    }
}
