using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Sagas.Participants;

/// <summary>Provider-specific error classification, kept in one place so SQLite and PostgreSQL behave alike.</summary>
public static class DbErrors
{
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteConstraint = 19;

    /// <summary>A second insert of the same barrier key: the other delivery won the race.</summary>
    public static bool IsUniqueViolation(Exception exception) => exception switch
    {
        PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } => true,
        SqliteException { SqliteErrorCode: SqliteConstraint, SqliteExtendedErrorCode: 1555 or 2067 } => true,
        { InnerException: { } inner } => IsUniqueViolation(inner),
        _ => false,
    };

    /// <summary>Errors worth a fresh transaction: lock contention, lost races, timeouts, dropped connections.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        BarrierConflictException => true,
        DbUpdateConcurrencyException => true,
        TimeoutException => true,
        PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected } => true,
        NpgsqlException { IsTransient: true } => true,
        SqliteException { SqliteErrorCode: SqliteBusy or SqliteLocked } => true,
        { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };
}

/// <summary>Another delivery of the same (saga, step) committed first or was still in flight; re-read and reply from its row.</summary>
public sealed class BarrierConflictException : Exception
{
    public BarrierConflictException()
    {
    }

    public BarrierConflictException(string message)
        : base(message)
    {
    }

    public BarrierConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
