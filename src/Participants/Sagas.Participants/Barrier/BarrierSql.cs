using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Sagas.Participants;

/// <summary>
/// The barrier's hand-written statement, named as the participant's model maps the barrier: a DbContext may give its
/// tables a default schema (<c>HasDefaultSchema</c>) or map <see cref="BarrierRow"/> elsewhere after the base class
/// has. Built once per model, quoted by the provider.
/// </summary>
internal static class BarrierSql
{
    private static readonly ConditionalWeakTable<IModel, string> Inserts = [];

    /// <summary>
    /// <c>INSERT ... ON CONFLICT DO NOTHING</c> of one barrier row (saga id, step, op, outcome, reason, created at, as
    /// <c>{0}</c> to <c>{5}</c>): 1 row inserted, or 0 when the key is taken. SQLite and PostgreSQL both have the clause.
    /// </summary>
    public static string InsertUnlessTaken(DbContext db)
    {
        var model = db.Model;
        if (!Inserts.TryGetValue(model, out var sql))
        {
            sql = BuildInsert(model, db.GetService<ISqlGenerationHelper>());
            Inserts.AddOrUpdate(model, sql);
        }

        return sql;
    }

    private static string BuildInsert(IModel model, ISqlGenerationHelper helper)
    {
        var entity = model.FindEntityType(typeof(BarrierRow))
            ?? throw new InvalidOperationException($"The model of this participant's DbContext does not map {nameof(BarrierRow)}; call base.OnModelCreating.");
        var table = StoreObjectIdentifier.Table(
            entity.GetTableName() ?? throw new InvalidOperationException($"{nameof(BarrierRow)} must be mapped to a table."),
            entity.GetSchema());

        string Column(string property) =>
            helper.DelimitIdentifier(entity.FindProperty(property)?.GetColumnName(table)
                ?? throw new InvalidOperationException($"{nameof(BarrierRow)}.{property} has no column in {table.DisplayName()}."));

        var columns = string.Join(", ", new[]
        {
            nameof(BarrierRow.SagaId), nameof(BarrierRow.Step), nameof(BarrierRow.Op),
            nameof(BarrierRow.Outcome), nameof(BarrierRow.Reason), nameof(BarrierRow.CreatedAt),
        }.Select(Column));
        return $"INSERT INTO {helper.DelimitIdentifier(table.Name, table.Schema)} ({columns}) VALUES ({{0}}, {{1}}, {{2}}, {{3}}, {{4}}, {{5}}) ON CONFLICT DO NOTHING";
    }
}
