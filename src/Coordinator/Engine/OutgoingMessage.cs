namespace Sagas.Coordinator.Engine;

/// <summary>A message the Engine decided to send: to a participant's queue, or published as an event when <paramref name="Queue"/> is null.</summary>
public sealed record OutgoingMessage(string? Queue, object Message);
