using System.Text.Json;

namespace Sagas.Coordinator.Api;

/// <summary>Reads JSON bodies by hand so a bad one gets an error that names the field instead of a generic 400 or a 500.</summary>
public static class RequestBody
{
    public static async Task<(JsonElement? Body, string? Error)> ReadObjectAsync(HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentType is null || !request.ContentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, "the body must be JSON (Content-Type: application/json)");
        }

        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, default, ct);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? (document.RootElement.Clone(), null)
                : (null, $"the body must be a JSON object, not {document.RootElement.ValueKind}");
        }
        catch (JsonException ex)
        {
            return (null, $"the body is not valid JSON (line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1})");
        }
    }

    public static string? OptionalString(JsonElement body, string name, List<(string, string)> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString();
        }

        errors.Add((name, $"must be a string, not {value.ValueKind}"));
        return null;
    }

    public static Guid? OptionalGuid(JsonElement body, string name, List<(string, string)> errors)
    {
        var text = OptionalString(body, name, errors);
        if (text is null)
        {
            return null;
        }

        if (Guid.TryParse(text, out var id))
        {
            return id;
        }

        errors.Add((name, $"'{text}' is not a GUID"));
        return null;
    }

    /// <summary>A duration as "hh:mm:ss" (or "d.hh:mm:ss").</summary>
    public static TimeSpan? OptionalTimeSpan(JsonElement body, string name, List<(string, string)> errors)
    {
        var text = OptionalString(body, name, errors);
        if (text is null)
        {
            return null;
        }

        if (TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        errors.Add((name, $"'{text}' is not a duration; use hh:mm:ss, e.g. 00:30:00"));
        return null;
    }

    public static int? OptionalInt(JsonElement body, string name, List<(string, string)> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number))
        {
            return number;
        }

        errors.Add((name, "must be a whole number"));
        return null;
    }
}
