namespace Sagas.Samples.Shipping;

/// <summary>Destinations the carrier serves. Bound from <see cref="Section"/>.</summary>
public sealed class ShippingOptions
{
    public const string Section = "Samples:Shipping";

    /// <summary>Antarctica: never served, so demos and tests can force a failure at the last step.</summary>
    public const string NeverServed = "AQ";

    public static readonly IReadOnlyList<string> DefaultCountries =
        ["NL", "BE", "DE", "FR", "GB", "IE", "LU", "ES", "PT", "IT", "AT", "CH", "DK", "SE", "NO", "FI", "PL", "US", "CA"];

    /// <summary>ISO 3166 alpha-2 codes; empty means <see cref="DefaultCountries"/>.</summary>
    public IList<string> Countries { get; } = [];

    public bool Serves(string country)
    {
        var code = country.Trim().ToUpperInvariant();
        if (code.Length == 0 || code == NeverServed)
        {
            return false;
        }

        IEnumerable<string> served = Countries.Count == 0 ? DefaultCountries : Countries;
        return served.Any(c => string.Equals(c.Trim(), code, StringComparison.OrdinalIgnoreCase));
    }
}
