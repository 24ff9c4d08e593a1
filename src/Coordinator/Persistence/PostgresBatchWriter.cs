using System.Collections.Concurrent;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Npgsql;
using NpgsqlTypes;
using Sagas.Coordinator.Engine;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Writes a transition's or a group commit's unit of work on PostgreSQL without EF's update pipeline: one insert per
/// table for all its new rows (each parameter an array of one column's values, unnested) and one statement per changed
/// or deleted row, their text built once per row shape from the EF model (table, columns, value converters, concurrency
/// token), all sent as one <see cref="NpgsqlBatch"/>. Same rows, same checks as SaveChanges (an update or delete that
/// finds no row, or a changed version, fails the save), with about half the coordinator's allocations gone: the profile
/// in docs/benchmarks.md (eighth session) found EF's command building and parameter objects to be the largest share. A
/// unit holding a row this writer does not know how to write (a shadow or generated column other than the outbox id, a
/// column type outside the list below) is left to SaveChanges.
/// </summary>
internal static class PostgresBatchWriter
{
    private static readonly ConcurrentDictionary<(IEntityType Type, EntityState State, ulong Modified), Plan?> Plans = new();

    /// <summary>
    /// Writes every pending change of <paramref name="db"/> in its open transaction; false (nothing written) when one
    /// cannot be written here.
    /// </summary>
    public static Task<bool> TryWriteAsync(SagasDbContext db, CancellationToken ct) => WriteAsync(db, commit: false, ct);

    /// <summary>
    /// Writes every pending change of <paramref name="db"/>, which has no open transaction, and commits it: one round
    /// trip. The batch's statements go to the server as one pipeline ending in a single Sync, which PostgreSQL runs as
    /// one implicit transaction: all of it commits, or an error anywhere rolls all of it back. An update or delete that
    /// finds no row cannot be counted afterwards, as in <see cref="TryWriteAsync"/>, because by then the batch has
    /// committed; its statement fails on the server instead (see <see cref="Plan.CheckedSql"/>). False (nothing
    /// written) when a change cannot be written here.
    /// </summary>
    public static async Task<bool> TryWriteAndCommitAsync(SagasDbContext db, CancellationToken ct)
    {
        if (db.Database.CurrentTransaction is not null)
        {
            throw new InvalidOperationException("TryWriteAndCommitAsync commits on its own: the context must not have a transaction open.");
        }

        await db.Database.OpenConnectionAsync(ct);
        try
        {
            return await WriteAsync(db, commit: true, ct);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static async Task<bool> WriteAsync(SagasDbContext db, bool commit, CancellationToken ct)
    {
        // New rows of one table go in one statement (arrays of column values, unnested), changed and deleted rows
        // one statement each: a batch of 20 transitions is a handful of inserts and 40 or so single-row updates.
        var inserts = new List<(Plan Plan, List<EntityEntry> Entries)>();
        var changes = new List<(EntityEntry Entry, Plan Plan)>();
        foreach (var entry in db.ChangeTracker.Entries())
        {
            if (entry.State is EntityState.Unchanged or EntityState.Detached)
            {
                continue;
            }

            if (PlanFor(entry) is not { } plan)
            {
                return false;
            }

            if (plan.Sql.Length == 0)
            {
                continue;
            }

            if (entry.State != EntityState.Added)
            {
                changes.Add((entry, plan));
            }
            else if (inserts.Find(i => ReferenceEquals(i.Plan, plan)) is { Entries: { } same })
            {
                same.Add(entry);
            }
            else
            {
                inserts.Add((plan, [entry]));
            }
        }

        if (inserts.Count == 0 && changes.Count == 0)
        {
            return true;
        }

        // Saga rows first, in id order, then everything else. Every transition locks its saga's row before it touches
        // the saga's other rows (history, events, timer, inbox), so two instances racing on one saga queue on that row
        // (the loser then fails its version check) instead of each holding a row the other waits for: a deadlock,
        // which PostgreSQL only breaks after deadlock_timeout (a second by default).
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await using var batch = new NpgsqlBatch(connection) { Transaction = commit ? null : (NpgsqlTransaction?)db.Database.CurrentTransaction?.GetDbTransaction() };
        Dictionary<Guid, OutboxRecord>? outbox = null;
        var checks = new List<(NpgsqlBatchCommand Command, EntityEntry Entry)>(changes.Count);
        foreach (var (plan, entries) in inserts.Where(i => IsSaga(i.Entries[0])))
        {
            entries.Sort(static (a, b) => SagaId(a).CompareTo(SagaId(b)));
            AddInsert(plan, entries);
        }

        foreach (var (entry, plan) in changes.Where(c => IsSaga(c.Entry)).OrderBy(c => SagaId(c.Entry)))
        {
            AddChange(entry, plan);
        }

        foreach (var (plan, entries) in inserts.Where(i => !IsSaga(i.Entries[0])))
        {
            AddInsert(plan, entries);
        }

        foreach (var (entry, plan) in changes.Where(c => !IsSaga(c.Entry)))
        {
            AddChange(entry, plan);
        }

        try
        {
            await using var reader = await batch.ExecuteReaderAsync(ct);

            // The outbox insert returns each new row's id with its message id; a checked statement (commit mode) returns
            // one single-column row, which says nothing more than that it did not fail.
            var assigned = 0;
            do
            {
                while (await reader.ReadAsync(ct))
                {
                    if (reader.FieldCount == 1)
                    {
                        continue;
                    }

                    if (outbox is null || !outbox.TryGetValue(reader.GetGuid(1), out var record))
                    {
                        throw new DbUpdateException("The batch returned an outbox id for a message it did not insert.");
                    }

                    record.Id = reader.GetInt64(0);
                    assigned++;
                }
            }
            while (await reader.NextResultAsync(ct));

            if (assigned != (outbox?.Count ?? 0))
            {
                throw new DbUpdateException($"The batch returned {assigned} outbox ids for {outbox!.Count} rows.");
            }
        }
        catch (PostgresException ex) when (commit && ex.SqlState == PostgresErrorCodes.DivisionByZero)
        {
            // A checked update or delete found no row: nothing was committed.
            throw new DbUpdateConcurrencyException($"A row to update or delete changed or is gone since it was read; none of the batch's {batch.BatchCommands.Count} statements was committed.", ex);
        }
        catch (PostgresException ex)
        {
            // As SaveChanges reports it: a key taken (a duplicate reply or start) or another constraint.
            throw new DbUpdateException($"Writing a batch of {batch.BatchCommands.Count} statements failed: {ex.MessageText}", ex);
        }

        // In commit mode the server has checked them (and the batch has committed).
        foreach (var (command, entry) in commit ? [] : checks)
        {
            if (command.RecordsAffected != 1)
            {
                // As SaveChanges: the row changed (another instance's transition) or is gone since it was read.
                throw new DbUpdateConcurrencyException($"{entry.Metadata.ClrType.Name} {entry.State}: expected 1 row, {command.RecordsAffected} affected.");
            }
        }

        return true;

        void AddInsert(Plan plan, List<EntityEntry> entries)
        {
            var command = new NpgsqlBatchCommand(plan.Sql);
            foreach (var parameter in plan.Parameters)
            {
                var values = Array.CreateInstance(parameter.ElementType, entries.Count);
                for (var i = 0; i < entries.Count; i++)
                {
                    values.SetValue(ValueOf(entries[i], parameter), i);
                }

                command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | parameter.Type, Value = values });
            }

            batch.BatchCommands.Add(command);
            if (plan.ReturnsId)
            {
                outbox = entries.Select(e => (OutboxRecord)e.Entity).ToDictionary(o => o.MessageId);
            }
        }

        void AddChange(EntityEntry entry, Plan plan)
        {
            var command = new NpgsqlBatchCommand(commit ? plan.CheckedSql : plan.Sql);
            foreach (var parameter in plan.Parameters)
            {
                command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = parameter.Type, Value = ValueOf(entry, parameter) ?? DBNull.Value });
            }

            batch.BatchCommands.Add(command);
            checks.Add((command, entry));
        }
    }

    private static bool IsSaga(EntityEntry entry) => entry.Entity is SagaInstance;

    private static Guid SagaId(EntityEntry entry) => ((SagaInstance)entry.Entity).Id;

    /// <summary>The column's value for the statement: the entity's (or, for a concurrency token, the original), converted.</summary>
    private static object? ValueOf(EntityEntry entry, ColumnParameter parameter)
    {
        var value = parameter.Original ? entry.OriginalValues[parameter.Property] : parameter.Getter.GetClrValueUsingContainingEntity(entry.Entity);
        return value is not null && parameter.Converter is { } converter ? converter.ConvertToProvider(value) : value;
    }

    private static Plan? PlanFor(EntityEntry entry)
    {
        var type = entry.Metadata;
        ulong modified = 0;
        if (entry.State == EntityState.Modified)
        {
            var index = 0;
            foreach (var property in type.GetProperties())
            {
                if (index == 64)
                {
                    return null;
                }

                if (entry.Property(property).IsModified)
                {
                    modified |= 1UL << index;
                }

                index++;
            }
        }

        return Plans.GetOrAdd((type, entry.State, modified), static key => Build(key.Type, key.State, key.Modified));
    }

    private static Plan? Build(IEntityType type, EntityState state, ulong modified)
    {
        if (type.GetTableName() is not { } tableName || type.GetNavigations().Any() || type.GetComplexProperties().Any())
        {
            return null;
        }

        var table = type.GetSchema() is { } schema ? $"{Quote(schema)}.{Quote(tableName)}" : Quote(tableName);
        var properties = type.GetProperties().ToList();
        var columns = new List<ColumnParameter>();
        foreach (var property in properties)
        {
            if (property.IsShadowProperty() || TypeOf(property) is null)
            {
                return null;
            }
        }

        var key = type.FindPrimaryKey()!.Properties;
        var tokens = properties.Where(p => p.IsConcurrencyToken && !p.IsPrimaryKey()).ToList();
        var sql = new StringBuilder();
        switch (state)
        {
            case EntityState.Added:
                {
                    // Guid keys get their value on the client (EF's generator runs when the entity is added); any other
                    // generated column is the database's. The outbox's identity id is the one this writer knows: it reads
                    // it back. Anything else generated by the database goes to SaveChanges.
                    var generated = properties.Where(p => p.ValueGenerated != ValueGenerated.Never && p.ClrType != typeof(Guid)).ToList();
                    var returnsId = false;
                    if (generated.Count > 0)
                    {
                        if (type.ClrType != typeof(OutboxRecord) || generated.Count != 1 || generated[0].Name != nameof(OutboxRecord.Id))
                        {
                            return null;
                        }

                        returnsId = true;
                    }

                    // Any number of rows, one statement text: each parameter is an array of one column's values. The
                    // arrays are unnested in the select list, side by side (ProjectSet), not in FROM: unnest in FROM
                    // fills a tuplestore per column, whose memory freed at the statement's end made the server give
                    // it back to the kernel and take it again on every statement (brk, page faults, TLB flushes),
                    // measured at a quarter of the coordinator's database CPU with 20 columns to a saga row.
                    var written = properties.Except(generated).ToList();
                    sql.Append("INSERT INTO ").Append(table).Append(" (").AppendJoin(", ", written.Select(p => Quote(p.GetColumnName())));
                    sql.Append(") SELECT ").AppendJoin(", ", written.Select((_, i) => $"unnest(${i + 1})"));
                    if (returnsId)
                    {
                        sql.Append(" RETURNING ").Append(Quote(generated[0].GetColumnName())).Append(", ")
                            .Append(Quote(type.FindProperty(nameof(OutboxRecord.MessageId))!.GetColumnName()));
                    }

                    columns.AddRange(written.Select(p => ColumnParameter.For(p, original: false)));
                    return new Plan(sql.ToString(), [.. columns], returnsId);
                }

            case EntityState.Modified:
                {
                    var set = properties.Where((p, i) => (modified & (1UL << i)) != 0 && !p.IsPrimaryKey()).ToList();
                    if (set.Count == 0)
                    {
                        // Nothing changed: SaveChanges sends nothing either.
                        return new Plan("", [], ReturnsId: false);
                    }

                    sql.Append("UPDATE ").Append(table).Append(" SET ");
                    sql.AppendJoin(", ", set.Select((p, i) => $"{Quote(p.GetColumnName())} = ${i + 1}"));
                    columns.AddRange(set.Select(p => ColumnParameter.For(p, original: false)));
                    AppendWhere(sql, key, tokens, columns);
                    return Plan.OneRow(sql.ToString(), [.. columns]);
                }

            case EntityState.Deleted:
                sql.Append("DELETE FROM ").Append(table);
                AppendWhere(sql, key, tokens, columns);
                return Plan.OneRow(sql.ToString(), [.. columns]);

            default:
                return null;
        }
    }

    /// <summary>The key's current values and the concurrency tokens' original ones: the row as it was read.</summary>
    private static void AppendWhere(StringBuilder sql, IReadOnlyList<IProperty> key, List<IProperty> tokens, List<ColumnParameter> columns)
    {
        var conditions = new List<string>();
        foreach (var property in key)
        {
            columns.Add(ColumnParameter.For(property, original: false));
            conditions.Add($"{Quote(property.GetColumnName())} = ${columns.Count}");
        }

        foreach (var property in tokens)
        {
            columns.Add(ColumnParameter.For(property, original: true));
            conditions.Add($"{Quote(property.GetColumnName())} = ${columns.Count}");
        }

        sql.Append(" WHERE ").AppendJoin(" AND ", conditions);
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The parameter type for the column's provider value (after its converter), or null when not one of these.</summary>
    private static NpgsqlDbType? TypeOf(IProperty property) => ProviderType(property) switch
    {
        var t when t == typeof(string) => NpgsqlDbType.Text,
        var t when t == typeof(Guid) => NpgsqlDbType.Uuid,
        var t when t == typeof(int) => NpgsqlDbType.Integer,
        var t when t == typeof(long) => NpgsqlDbType.Bigint,
        var t when t == typeof(short) => NpgsqlDbType.Smallint,
        var t when t == typeof(bool) => NpgsqlDbType.Boolean,
        var t when t == typeof(DateTimeOffset) => NpgsqlDbType.TimestampTz,
        var t when t == typeof(byte[]) => NpgsqlDbType.Bytea,
        _ => null,
    };

    /// <summary>The CLR type of the column's provider value (after its converter), without Nullable.</summary>
    private static Type ProviderType(IProperty property)
    {
        var clr = property.GetTypeMapping().Converter?.ProviderClrType ?? property.ClrType;
        return Nullable.GetUnderlyingType(clr) ?? clr;
    }

    /// <summary>An insert (any number of rows), or a single-row update or delete that must find its row.</summary>
    private sealed record Plan(string Sql, ColumnParameter[] Parameters, bool ReturnsId)
    {
        /// <summary>
        /// The statement for a batch that commits on its own: for an update or delete, one that fails (division by
        /// zero) when it finds no row, <c>1 / count(*)</c> over its returned rows. The divisor is computed at run time,
        /// so the planner cannot fold the error into every call. Otherwise <see cref="Sql"/>.
        /// </summary>
        public string CheckedSql { get; private init; } = Sql;

        public static Plan OneRow(string sql, ColumnParameter[] parameters) =>
            new(sql, parameters, ReturnsId: false) { CheckedSql = $"WITH changed AS ({sql} RETURNING 1) SELECT 1 / count(*) FROM changed" };
    }

    private sealed record ColumnParameter(IProperty Property, IClrPropertyGetter Getter, ValueConverter? Converter, NpgsqlDbType Type, Type ElementType, bool Original)
    {
        public static ColumnParameter For(IProperty property, bool original)
        {
            // Arrays of a column's values hold nullable elements, so a null is one element.
            var clr = ProviderType(property);
            var element = clr.IsValueType ? typeof(Nullable<>).MakeGenericType(clr) : clr;
            return new(property, property.GetGetter(), property.GetTypeMapping().Converter, TypeOf(property)!.Value, element, original);
        }
    }
}
