using System.Globalization;
using System.Text.Json;

namespace Sagas.Samples;

/// <summary>
/// The demo saga data: <c>{"orderId":"o-1","customerId":"c-1","sku":"sku-1","quantity":1,"amount":25.00,"country":"NL"}</c>.
/// Missing or mistyped fields are a business failure, not an exception: retrying cannot fix the data.
/// </summary>
public sealed record OrderData(string OrderId, string CustomerId, string Sku, int Quantity, decimal Amount, string Country)
{
    public static bool TryRead(JsonElement data, out OrderData order, out string error)
    {
        order = new OrderData("", "", "", 0, 0m, "");
        if (data.ValueKind != JsonValueKind.Object)
        {
            error = "saga data is not a JSON object";
            return false;
        }

        try
        {
            order = new OrderData(
                Text(data, "orderId"),
                Text(data, "customerId"),
                Text(data, "sku"),
                data.TryGetProperty("quantity", out var q) ? q.GetInt32() : 0,
                data.TryGetProperty("amount", out var a) ? a.GetDecimal() : 0m,
                Text(data, "country").ToUpperInvariant());
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            error = "saga data has a field of the wrong type: " + ex.Message;
            return false;
        }

        error = "";
        return true;
    }

    /// <summary>Amounts are stored in cents: exact, and SQLite can do arithmetic on integers.</summary>
    public long AmountCents => decimal.ToInt64(decimal.Round(Amount * 100m, MidpointRounding.AwayFromZero));

    public static string Money(long cents) => (cents / 100m).ToString("0.00", CultureInfo.InvariantCulture);

    private static string Text(JsonElement data, string name) =>
        data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
}
