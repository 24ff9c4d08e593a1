using System.Text.Json.Serialization;

namespace Sagas.Contracts;

/// <summary>
/// Coordinator to participant: several commands for one participant in one broker message, each handled as if it had
/// come alone. The coordinator sends one when a group commit wrote more than one command for the same queue; a single
/// command still goes as <see cref="ExecuteStep"/> or <see cref="CompensateStep"/>. Setting
/// <c>Sagas:ParticipantCommandBatchSize:&lt;participant&gt;</c> to 1 on the coordinator turns batches off for one participant
/// (built before them), <c>Sagas:CommandBatchSize</c> to 1 for all.
/// </summary>
public sealed record StepCommandBatch(IReadOnlyList<BatchedStepCommand> Commands);

/// <summary>
/// One command of a <see cref="StepCommandBatch"/>: exactly one of <paramref name="Execute"/> and
/// <paramref name="Compensate"/> is set. <paramref name="MessageId"/> is the id the command has when it travels alone
/// (its outbox row's), so a copy sent on its own later is the same message.
/// </summary>
public sealed record BatchedStepCommand(Guid MessageId, ExecuteStep? Execute = null, CompensateStep? Compensate = null);

/// <summary>
/// Participant to coordinator: the replies to the commands of one <see cref="StepCommandBatch"/>, each applied as if
/// it had come alone (the coordinator's inbox dedupes each by its own message id).
/// </summary>
public sealed record StepReplyBatch(IReadOnlyList<BatchedStepReply> Replies);

/// <summary>
/// One reply of a <see cref="StepReplyBatch"/>: exactly one of the five replies is set. <paramref name="CorrelationId"/>
/// is the message id of the command it answers.
/// </summary>
public sealed record BatchedStepReply(
    Guid MessageId,
    Guid? CorrelationId,
    StepSucceeded? Succeeded = null,
    StepFailed? Failed = null,
    StepCompensated? Compensated = null,
    CompensationFailed? CompensationFailed = null,
    StepHeartbeat? Heartbeat = null)
{
    /// <summary>The one reply this item carries.</summary>
    [JsonIgnore]
    public object? Reply => (object?)Succeeded ?? (object?)Failed ?? (object?)Compensated ?? (object?)CompensationFailed ?? Heartbeat;

    /// <summary>The saga the reply is for (empty when the item carries none).</summary>
    [JsonIgnore]
    public Guid SagaId => (Guid?)Succeeded?.SagaId ?? (Guid?)Failed?.SagaId ?? (Guid?)Compensated?.SagaId ?? (Guid?)CompensationFailed?.SagaId ?? Heartbeat?.SagaId ?? Guid.Empty;

    /// <summary>How many replies are set: 1 in a well-formed item.</summary>
    [JsonIgnore]
    public int Outcomes =>
        (Succeeded is null ? 0 : 1) + (Failed is null ? 0 : 1) + (Compensated is null ? 0 : 1) + (CompensationFailed is null ? 0 : 1) + (Heartbeat is null ? 0 : 1);

    /// <summary>Wraps one reply the participant would otherwise send alone.</summary>
    public static BatchedStepReply Of(Guid messageId, Guid? correlationId, object reply) => reply switch
    {
        StepSucceeded s => new BatchedStepReply(messageId, correlationId, Succeeded: s),
        StepFailed f => new BatchedStepReply(messageId, correlationId, Failed: f),
        StepCompensated c => new BatchedStepReply(messageId, correlationId, Compensated: c),
        CompensationFailed c => new BatchedStepReply(messageId, correlationId, CompensationFailed: c),
        StepHeartbeat h => new BatchedStepReply(messageId, correlationId, Heartbeat: h),
        _ => throw new ArgumentException($"{reply?.GetType().Name ?? "null"} cannot go in a reply batch", nameof(reply)),
    };
}
