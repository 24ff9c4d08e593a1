using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace Sagas.Participants;

/// <summary>
/// On PostgreSQL the barrier's last save and its commit go in one round trip: the save's command ends with
/// <c>COMMIT</c>. The statements run in order and stop at the first error, so a failed write leaves the transaction
/// to roll back as before, and a failing commit (a deferred constraint) surfaces from the save as a
/// <see cref="DbUpdateException"/>. Npgsql sees the server leave the transaction and does not send a rollback when it is
/// disposed.
/// <para>Used only when the save is certain to be one command of inserts, plus the update of the barrier's own row
/// (inserted in this transaction): an update or delete of another row that matched nothing would be reported by EF
/// only after the commit, and a save split into several commands would run the later ones outside the transaction.
/// Anything else saves, then commits, as two round trips.</para>
/// </summary>
internal sealed class CommitWithSave : DbCommandInterceptor
{
    public static readonly CommitWithSave Instance = new();

    /// <summary>Most commands a one-trip save may hold: far below any batch size EF would split at.</summary>
    private const int MaxCommands = 100;

    /// <summary>
    /// Saves the tracked changes, <paramref name="barrier"/> (a row this transaction inserted) among them, and commits
    /// <paramref name="tx"/>, in one round trip where it is safe.
    /// </summary>
    public static async Task SaveAndCommitAsync(ParticipantDbContext db, IDbContextTransaction tx, BarrierRow barrier, CancellationToken ct)
    {
        if (IsOneCommand(db, barrier))
        {
            bool committed;
            db.CommitWithNextCommand = true;
            try
            {
                await db.SaveChangesAsync(ct);
            }
            finally
            {
                // Cleared whatever happened: a pooled context must not carry them to its next message.
                committed = db.CommittedByCommand;
                db.CommitWithNextCommand = false;
                db.CommittedByCommand = false;
            }

            if (committed)
            {
                return;
            }
        }
        else
        {
            await db.SaveChangesAsync(ct);
        }

        await tx.CommitAsync(ct);
    }

    // Only the asynchronous save is ever armed (SaveAndCommitAsync).
    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Append(command, eventData);
        return ValueTask.FromResult(result);
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Append(command, eventData);
        return ValueTask.FromResult(result);
    }

    private static void Append(DbCommand command, CommandEventData eventData)
    {
        if (eventData.Context is not ParticipantDbContext db)
        {
            return;
        }

        if (db.CommittedByCommand)
        {
            // A second command after the commit would run outside the transaction: refuse it (IsOneCommand rules it out).
            throw new InvalidOperationException("The barrier's save needed a second command after its commit.");
        }

        if (db.CommitWithNextCommand)
        {
            db.CommitWithNextCommand = false;
            db.CommittedByCommand = true;
            command.CommandText += ";\nCOMMIT";
        }
    }

    private static bool IsOneCommand(ParticipantDbContext db, BarrierRow barrier)
    {
        if (!db.Database.IsNpgsql())
        {
            return false;
        }

        var commands = 0;
        foreach (var entry in db.ChangeTracker.Entries())
        {
            switch (entry.State)
            {
                case EntityState.Unchanged or EntityState.Detached:
                    continue;

                // A store-generated key would need its value read back before a dependent row can be written.
                case EntityState.Added when !entry.Properties.Any(p => p.IsTemporary):
                case EntityState.Modified when ReferenceEquals(entry.Entity, barrier):
                    commands++;
                    break;

                default:
                    return false;
            }
        }

        var options = RelationalOptionsExtension.Extract(db.GetService<IDbContextOptions>());
        return commands == 1 || (commands > 1 && commands <= Math.Min(MaxCommands, options.MaxBatchSize ?? MaxCommands) && commands >= (options.MinBatchSize ?? 1));
    }
}
