using System.Collections.Concurrent;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Npgsql;
using NpgsqlTypes;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Writes a group commit's unit of work on PostgreSQL without EF's update pipeline: one statement per tracked row,
/// built once per row shape from the EF model (table, columns, value converters, concurrency token), with positional
/// parameters, all sent as one <see cref="NpgsqlBatch"/>. Same statements, same checks (an update or delete that finds
/// no row, or a changed version, fails the save), about half the coordinator's allocations less: the profile in
/// docs/benchmarks.md (eighth session) found EF's command building and parameter objects to be the largest share.
/// A unit holding a row this writer does not know how to write (a shadow or generated column other than the outbox
/// id, a column type outside the list below) is left to SaveChanges.
/// </summary>
internal static class PostgresBatchWriter
{
    private static readonly ConcurrentDictionary<(IEntityType Type, EntityState State, ulong Modified), Plan?> Plans = new();

    /// <summary>Writes every pending change of <paramref name="db"/>; false (nothing written) when one cannot be written here.</summary>
    public static async Task<bool> TryWriteAsync(SagasDbContext db, CancellationToken ct)
    {
        var rows = new List<(EntityEntry Entry, Plan Plan)>();
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

            if (plan.Sql.Length > 0)
            {
                rows.Add((entry, plan));
            }
        }

        if (rows.Count == 0)
        {
            return true;
        }

        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await using var batch = new NpgsqlBatch(connection) { Transaction = (NpgsqlTransaction?)db.Database.CurrentTransaction?.GetDbTransaction() };
        var generated = new List<OutboxRecord>();
        foreach (var (entry, plan) in rows)
        {
            var command = new NpgsqlBatchCommand(plan.Sql);
            foreach (var parameter in plan.Parameters)
            {
                var value = parameter.Original ? entry.OriginalValues[parameter.Property] : parameter.Getter.GetClrValueUsingContainingEntity(entry.Entity);
                if (value is not null && parameter.Converter is { } converter)
                {
                    value = converter.ConvertToProvider(value);
                }

                command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = parameter.Type, Value = value ?? DBNull.Value });
            }

            batch.BatchCommands.Add(command);
            if (plan.ReturnsId)
            {
                generated.Add((OutboxRecord)entry.Entity);
            }
        }

        try
        {
            await using (var reader = await batch.ExecuteReaderAsync(ct))
            {
                // Only the outbox inserts return rows (their ids), one result each, in the order they were added.
                var next = 0;
                do
                {
                    while (await reader.ReadAsync(ct))
                    {
                        if (next == generated.Count)
                        {
                            throw new DbUpdateException("The batch returned more generated ids than it inserted outbox rows.");
                        }

                        generated[next++].Id = reader.GetInt64(0);
                    }
                }
                while (await reader.NextResultAsync(ct));

                if (next != generated.Count)
                {
                    throw new DbUpdateException($"The batch returned {next} generated ids for {generated.Count} outbox rows.");
                }
            }
        }
        catch (PostgresException ex)
        {
            // As SaveChanges reports it: a key taken (a duplicate reply or start) or another constraint.
            throw new DbUpdateException($"Writing a batch of {rows.Count} rows failed: {ex.MessageText}", ex);
        }

        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Plan.ExpectsOneRow && batch.BatchCommands[i].RecordsAffected != 1)
            {
                // As SaveChanges: the row changed (another instance's transition) or is gone since it was read.
                throw new DbUpdateConcurrencyException(
                    $"{rows[i].Entry.Metadata.ClrType.Name} {rows[i].Entry.State}: expected 1 row, {batch.BatchCommands[i].RecordsAffected} affected.");
            }
        }

        return true;
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

                    var written = properties.Except(generated).ToList();
                    sql.Append("INSERT INTO ").Append(table).Append(" (").AppendJoin(", ", written.Select(p => Quote(p.GetColumnName()))).Append(") VALUES (");
                    sql.AppendJoin(", ", written.Select((_, i) => "$" + (i + 1))).Append(')');
                    if (returnsId)
                    {
                        sql.Append(" RETURNING ").Append(Quote(generated[0].GetColumnName()));
                    }

                    columns.AddRange(written.Select(p => ColumnParameter.For(p, original: false)));
                    return new Plan(sql.ToString(), [.. columns], ExpectsOneRow: false, returnsId);
                }

            case EntityState.Modified:
                {
                    var set = properties.Where((p, i) => (modified & (1UL << i)) != 0 && !p.IsPrimaryKey()).ToList();
                    if (set.Count == 0)
                    {
                        // Nothing changed: SaveChanges sends nothing either.
                        return new Plan("", [], ExpectsOneRow: false, ReturnsId: false);
                    }

                    sql.Append("UPDATE ").Append(table).Append(" SET ");
                    sql.AppendJoin(", ", set.Select((p, i) => $"{Quote(p.GetColumnName())} = ${i + 1}"));
                    columns.AddRange(set.Select(p => ColumnParameter.For(p, original: false)));
                    AppendWhere(sql, key, tokens, columns);
                    return new Plan(sql.ToString(), [.. columns], ExpectsOneRow: true, ReturnsId: false);
                }

            case EntityState.Deleted:
                sql.Append("DELETE FROM ").Append(table);
                AppendWhere(sql, key, tokens, columns);
                return new Plan(sql.ToString(), [.. columns], ExpectsOneRow: true, ReturnsId: false);

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
    private static NpgsqlDbType? TypeOf(IProperty property)
    {
        var clr = property.GetTypeMapping().Converter?.ProviderClrType ?? property.ClrType;
        clr = Nullable.GetUnderlyingType(clr) ?? clr;
        return clr switch
        {
            _ when clr == typeof(string) => NpgsqlDbType.Text,
            _ when clr == typeof(Guid) => NpgsqlDbType.Uuid,
            _ when clr == typeof(int) => NpgsqlDbType.Integer,
            _ when clr == typeof(long) => NpgsqlDbType.Bigint,
            _ when clr == typeof(short) => NpgsqlDbType.Smallint,
            _ when clr == typeof(bool) => NpgsqlDbType.Boolean,
            _ when clr == typeof(DateTimeOffset) => NpgsqlDbType.TimestampTz,
            _ when clr == typeof(byte[]) => NpgsqlDbType.Bytea,
            _ => null,
        };
    }

    private sealed record Plan(string Sql, ColumnParameter[] Parameters, bool ExpectsOneRow, bool ReturnsId);

    private sealed record ColumnParameter(IProperty Property, IClrPropertyGetter Getter, ValueConverter? Converter, NpgsqlDbType Type, bool Original)
    {
        public static ColumnParameter For(IProperty property, bool original) =>
            new(property, property.GetGetter(), property.GetTypeMapping().Converter, TypeOf(property)!.Value, original);
    }
}
