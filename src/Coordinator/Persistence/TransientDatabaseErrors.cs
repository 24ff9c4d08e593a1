using System.Data.Common;
using System.Net.Sockets;

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
}
