using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Data.SqlClient;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Trouble reaching the database, wherever it sits in the exception chain (EF Core wraps provider errors in
/// InvalidOperationException). Worth waiting for; anything else (a model or migration error) is final.
/// </summary>
public static class TransientDatabaseErrors
{
    public static bool IsTransient(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is DbException or TimeoutException or SocketException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A transaction that lost to a concurrent one and is worth running again on fresh state: a version check or key
    /// another transaction got to first (EF's <see cref="DbUpdateException"/>), or the database breaking a deadlock
    /// or a serialization conflict by aborting this side. EF's non-retrying execution strategy reports the latter
    /// inside an InvalidOperationException, so the whole chain is looked at.
    /// </summary>
    public static bool IsConflict(Exception? exception)
    {
        if (exception is DbUpdateException)
        {
            return true;
        }

        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure }
                or SqlException { Number: SqlServerDeadlockVictim })
            {
                return true;
            }
        }

        return false;
    }

    private const int SqlServerDeadlockVictim = 1205;
}
