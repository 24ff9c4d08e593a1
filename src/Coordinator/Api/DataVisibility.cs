using System.Text.Json;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Api.Auth;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Api;

/// <summary>
/// Who may read saga data through the API. With encryption off, whoever may read the saga; with encryption on, only
/// callers holding <see cref="PayloadOptions.PlaintextRole"/> (or a higher role). Others see a placeholder that says
/// why, never the ciphertext.
/// </summary>
public static class DataVisibility
{
    public const string RedactedProperty = "$redacted";

    public static bool Reveals(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (http.RequestServices.GetRequiredService<PayloadCodec>().Cipher is null)
        {
            return true;
        }

        return Policies.Allows(http.User, RequiredRole(http.RequestServices));
    }

    /// <summary>What a caller without the role sees instead of the data.</summary>
    public static JsonElement Placeholder(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var text = $"saga data is encrypted; the {RequiredRole(http.RequestServices)} role (or higher) sees it";
        return JsonSerializer.SerializeToElement(new Dictionary<string, string> { [RedactedProperty] = text });
    }

    /// <summary>An unknown role name in the settings falls back to the strictest role rather than to nobody or everybody.</summary>
    private static string RequiredRole(IServiceProvider services) =>
        Policies.Normalize(services.GetRequiredService<IOptions<PayloadOptions>>().Value.PlaintextRole) ?? Policies.Admin;
}
