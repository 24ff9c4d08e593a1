namespace Sagas.Contracts;

/// <summary>Queue names shared by the coordinator and participants. Participants listen on their own queue name.</summary>
public static class Endpoints
{
    /// <summary>The coordinator's queue: starts and participant replies.</summary>
    public const string Coordinator = "sagas-coordinator";

    /// <summary>Header carrying the saga id on every message, for logs and tracing.</summary>
    public const string SagaIdHeader = "Sagas-SagaId";
}
