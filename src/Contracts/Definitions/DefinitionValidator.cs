using System.Text.RegularExpressions;

namespace Sagas.Contracts.Definitions;

/// <summary>Checks a definition and names the field of every problem, so a bad file or API call is easy to fix.</summary>
public static partial class DefinitionValidator
{
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(7);

    public static IReadOnlyList<DefinitionError> Validate(SagaDefinition? definition)
    {
        var errors = new List<DefinitionError>();
        if (definition is null)
        {
            errors.Add(new DefinitionError("$", "a definition is required"));
            return errors;
        }

        if (string.IsNullOrWhiteSpace(definition.Name))
        {
            errors.Add(new DefinitionError("name", "is required"));
        }
        else if (!NamePattern().IsMatch(definition.Name))
        {
            errors.Add(new DefinitionError("name", "must be 1-100 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"));
        }

        if (definition.Version < 1)
        {
            errors.Add(new DefinitionError("version", "must be 1 or more"));
        }

        if (definition.Deadline is { } deadline && (deadline <= TimeSpan.Zero || deadline > TimeSpan.FromDays(365)))
        {
            errors.Add(new DefinitionError("deadline", "must be more than zero and at most 365 days"));
        }

        if (definition.Steps is null || definition.Steps.Count == 0)
        {
            errors.Add(new DefinitionError("steps", "at least one step is required"));
            return errors;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var pivotSeen = false;
        for (var i = 0; i < definition.Steps.Count; i++)
        {
            var step = definition.Steps[i];
            var at = $"steps[{i}]";
            if (step is null)
            {
                errors.Add(new DefinitionError(at, "a step cannot be null"));
                continue;
            }

            ValidateStep(step, at, names, errors);
            pivotSeen = ValidateKindOrder(step, at, pivotSeen, errors);
        }

        ValidateGroups(definition.Steps, errors);
        return errors;
    }

    private static void ValidateStep(StepDefinition step, string at, HashSet<string> names, List<DefinitionError> errors)
    {
        if (string.IsNullOrWhiteSpace(step.Name))
        {
            errors.Add(new DefinitionError($"{at}.name", "is required"));
        }
        else if (!NamePattern().IsMatch(step.Name))
        {
            errors.Add(new DefinitionError($"{at}.name", "must be 1-100 characters of a-z, 0-9, '-', '_' or '.'"));
        }
        else if (!names.Add(step.Name))
        {
            errors.Add(new DefinitionError($"{at}.name", $"'{step.Name}' is used by an earlier step; step names must be unique"));
        }

        if (step.IsWait)
        {
            ValidateWait(step, at, errors);
        }
        else
        {
            if (string.IsNullOrWhiteSpace(step.Participant))
            {
                errors.Add(new DefinitionError($"{at}.participant", "is required (the participant's queue name)"));
            }
            else if (!NamePattern().IsMatch(step.Participant))
            {
                errors.Add(new DefinitionError($"{at}.participant", "must be a queue name of a-z, 0-9, '-', '_' or '.'"));
            }

            if (string.IsNullOrWhiteSpace(step.Action))
            {
                errors.Add(new DefinitionError($"{at}.action", "is required"));
            }
        }

        if (step.Group is { } group && !NamePattern().IsMatch(group))
        {
            errors.Add(new DefinitionError($"{at}.group", "must be 1-100 characters of a-z, 0-9, '-', '_' or '.'"));
        }

        if (step.DataFields is { } fields)
        {
            for (var f = 0; f < fields.Count; f++)
            {
                if (string.IsNullOrWhiteSpace(fields[f]))
                {
                    errors.Add(new DefinitionError($"{at}.dataFields[{f}]", "must be a field name"));
                }
            }
        }

        if (step.Timeout <= TimeSpan.Zero || step.Timeout > MaxTimeout)
        {
            errors.Add(new DefinitionError($"{at}.timeout", "must be more than zero and at most 7 days"));
        }

        if (step.CompensationTimeout is { } ct && (ct <= TimeSpan.Zero || ct > MaxTimeout))
        {
            errors.Add(new DefinitionError($"{at}.compensationTimeout", "must be more than zero and at most 7 days"));
        }

        ValidatePolicy(step.Retry, $"{at}.retry", errors);
        ValidatePolicy(step.CompensationRetry, $"{at}.compensationRetry", errors);
    }

    private static bool ValidateKindOrder(StepDefinition step, string at, bool pivotSeen, List<DefinitionError> errors)
    {
        switch (step.Kind)
        {
            case StepKind.Compensatable:
                if (pivotSeen)
                {
                    errors.Add(new DefinitionError($"{at}.kind", "a compensatable step cannot follow the pivot: after the point of no return only retriable steps may run"));
                }

                if (string.IsNullOrWhiteSpace(step.Compensation) && !step.IsWait)
                {
                    errors.Add(new DefinitionError($"{at}.compensation", "is required for a compensatable step (make it a pivot or retriable step if it cannot be undone)"));
                }

                return pivotSeen;
            case StepKind.Pivot:
                if (pivotSeen)
                {
                    errors.Add(new DefinitionError($"{at}.kind", "a saga has at most one pivot step"));
                }

                return true;
            case StepKind.Retriable:
                if (!string.IsNullOrWhiteSpace(step.Compensation))
                {
                    errors.Add(new DefinitionError($"{at}.compensation", "a retriable step is never compensated; remove the compensation"));
                }

                return true;
            default:
                errors.Add(new DefinitionError($"{at}.kind", "must be compensatable, pivot or retriable"));
                return pivotSeen;
        }
    }

    private static void ValidateWait(StepDefinition step, string at, List<DefinitionError> errors)
    {
        if (!NamePattern().IsMatch(step.WaitFor!))
        {
            errors.Add(new DefinitionError($"{at}.waitFor", "must be a signal name of a-z, 0-9, '-', '_' or '.'"));
        }

        if (!string.IsNullOrEmpty(step.Participant) || !string.IsNullOrEmpty(step.Action) || !string.IsNullOrEmpty(step.Compensation))
        {
            errors.Add(new DefinitionError($"{at}.waitFor", "a wait step calls no participant: leave participant, action and compensation out"));
        }

        if (step.Kind != StepKind.Compensatable)
        {
            errors.Add(new DefinitionError($"{at}.kind", "a wait step has no effect to undo or retry; leave kind out"));
        }

        if (step.Group is not null)
        {
            errors.Add(new DefinitionError($"{at}.group", "a wait step cannot be part of a parallel group"));
        }
    }

    /// <summary>A group is one run of neighbouring steps: a group name that comes back later is a mistake.</summary>
    private static void ValidateGroups(IReadOnlyList<StepDefinition> steps, List<DefinitionError> errors)
    {
        var closed = new HashSet<string>(StringComparer.Ordinal);
        string? open = null;
        for (var i = 0; i < steps.Count; i++)
        {
            var group = steps[i]?.Group;
            if (group != open && open is not null)
            {
                closed.Add(open);
            }

            if (group is not null && group != open && closed.Contains(group))
            {
                errors.Add(new DefinitionError($"steps[{i}].group", $"group '{group}' must be one run of neighbouring steps"));
            }

            if (group is not null && steps[i]!.Kind == StepKind.Pivot)
            {
                errors.Add(new DefinitionError($"steps[{i}].group", "the pivot cannot run in a parallel group"));
            }

            open = group;
        }
    }

    private static void ValidatePolicy(RetryPolicy? policy, string at, List<DefinitionError> errors)
    {
        if (policy is null)
        {
            errors.Add(new DefinitionError(at, "cannot be null"));
            return;
        }

        if (policy.MaxAttempts is < 1 or > 1000)
        {
            errors.Add(new DefinitionError($"{at}.maxAttempts", "must be between 1 and 1000"));
        }

        if (policy.InitialDelay < TimeSpan.Zero || policy.InitialDelay > MaxTimeout)
        {
            errors.Add(new DefinitionError($"{at}.initialDelay", "must be zero or more and at most 7 days"));
        }

        if (policy.MaxDelay < policy.InitialDelay || policy.MaxDelay > MaxTimeout)
        {
            errors.Add(new DefinitionError($"{at}.maxDelay", "must be at least initialDelay and at most 7 days"));
        }

        if (policy.Multiplier is < 1.0 or > 10.0 || double.IsNaN(policy.Multiplier))
        {
            errors.Add(new DefinitionError($"{at}.multiplier", "must be between 1 and 10"));
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,99}$")]
    private static partial Regex NamePattern();
}
