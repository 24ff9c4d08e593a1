using System.Text.Json;
using Microsoft.Extensions.Options;
using Sagas.Contracts;
using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Messaging;

/// <summary>One set of rules for a start, whether it came over HTTP or the bus.</summary>
public sealed class StartValidator(IOptions<SagasOptions> options)
{
    public (StartCommand? Command, string? Error) Validate(StartSaga message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var errors = new List<(string Field, string Message)>();
        var command = Validate(message.SagaId, message.Definition, message.Version, message.Data, message.BusinessKey, message.Tenant, errors, message.Deadline);
        return (command, errors.Count == 0 ? null : string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")));
    }

    /// <summary>Checks each field and names the ones at fault; returns null when any is.</summary>
    public StartCommand? Validate(
        Guid sagaId,
        string? definition,
        int? version,
        JsonElement data,
        string? businessKey,
        string? tenant,
        List<(string Field, string Message)> errors,
        TimeSpan? deadline = null)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (sagaId == Guid.Empty)
        {
            errors.Add(("sagaId", "must not be the empty GUID"));
        }

        if (string.IsNullOrWhiteSpace(definition))
        {
            errors.Add(("definition", "is required: the name of a registered saga definition"));
        }
        else if (definition.Length > 100)
        {
            errors.Add(("definition", "must be at most 100 characters"));
        }

        if (version is < 1)
        {
            errors.Add(("version", "must be 1 or more"));
        }

        string? text = null;
        if (data.ValueKind != JsonValueKind.Object)
        {
            errors.Add(("data", data.ValueKind == JsonValueKind.Undefined ? "is required: a JSON object" : $"must be a JSON object, not {data.ValueKind}"));
        }
        else
        {
            text = data.GetRawText();
            if (text.Length > options.Value.MaxDataBytes)
            {
                errors.Add(("data", $"is {text.Length} bytes; the limit is {options.Value.MaxDataBytes}"));
            }
        }

        if (businessKey is { Length: > 200 })
        {
            errors.Add(("businessKey", "must be at most 200 characters"));
        }

        if (tenant is { Length: > 100 })
        {
            errors.Add(("tenant", "must be at most 100 characters"));
        }

        if (deadline is { } d && (d <= TimeSpan.Zero || d > TimeSpan.FromDays(365)))
        {
            errors.Add(("deadline", "must be more than zero and at most 365 days"));
        }

        return errors.Count > 0 ? null : new StartCommand(sagaId, definition!, version, text!, businessKey, tenant, deadline);
    }
}
