using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Sagas.Coordinator.Api;

/// <summary>
/// Query-string parsing shared by the list routes: every bad value becomes an error naming its parameter, and
/// keyset cursors are opaque base64url tokens (a time, a GUID and optionally a string) so a page never skips or
/// repeats a row when rows are added in front of it.
/// </summary>
public static class Paging
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 500;

    public static int Limit(string? text, List<(string Field, string Message)> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultLimit;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= MaxLimit)
        {
            return limit;
        }

        errors.Add(("limit", $"must be a whole number from 1 to {MaxLimit}, not '{text}'"));
        return DefaultLimit;
    }

    /// <summary>An ISO 8601 time; without an offset it is taken as UTC. Returned in UTC, the form the store compares.</summary>
    public static DateTimeOffset? Time(string name, string? text, List<(string Field, string Message)> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var time))
        {
            return time.ToUniversalTime();
        }

        errors.Add((name, $"'{text}' is not an ISO 8601 time such as 2026-11-26T04:17:13Z"));
        return null;
    }

    public static string? Text(string name, string? text, int maxLength, List<(string Field, string Message)> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (text.Length > maxLength)
        {
            errors.Add((name, $"must be at most {maxLength} characters"));
            return null;
        }

        return text;
    }

    public static string EncodeCursor(Cursor cursor)
    {
        ArgumentNullException.ThrowIfNull(cursor);
        var text = Encoding.UTF8.GetBytes(cursor.Text ?? "");
        var bytes = new byte[8 + 16 + text.Length];
        BinaryPrimitives.WriteInt64BigEndian(bytes, cursor.Time.UtcTicks);
        cursor.Id.TryWriteBytes(bytes.AsSpan(8, 16), bigEndian: true, out _);
        text.CopyTo(bytes, 24);
        return Base64Url.EncodeToString(bytes);
    }

    public static Cursor? DecodeCursor(string? text, List<(string Field, string Message)> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        try
        {
            var bytes = Base64Url.DecodeFromChars(text);
            if (bytes.Length >= 24)
            {
                var ticks = BinaryPrimitives.ReadInt64BigEndian(bytes);
                if (ticks >= DateTimeOffset.MinValue.UtcTicks && ticks <= DateTimeOffset.MaxValue.UtcTicks)
                {
                    return new Cursor(
                        new DateTimeOffset(ticks, TimeSpan.Zero),
                        new Guid(bytes.AsSpan(8, 16), bigEndian: true),
                        bytes.Length > 24 ? Encoding.UTF8.GetString(bytes.AsSpan(24)) : null);
                }
            }
        }
        catch (FormatException)
        {
            // Reported below like any other malformed cursor.
        }

        errors.Add(("cursor", "is not a cursor returned by this API (pass nextCursor unchanged)"));
        return null;
    }
}

/// <summary>The last row of a page: its sort time, its id and, where the key has one, a third string part.</summary>
public sealed record Cursor(DateTimeOffset Time, Guid Id, string? Text);
