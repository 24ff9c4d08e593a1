using Microsoft.EntityFrameworkCore;

namespace Sagas.Participants;

/// <summary>
/// Base of every participant's DbContext: its business tables plus the barrier table, so the barrier row and
/// the business effect commit in one local transaction.
/// </summary>
public abstract class ParticipantDbContext : DbContext
{
    protected ParticipantDbContext(DbContextOptions options)
        : base(options)
    {
    }

    public DbSet<BarrierRow> Barrier => Set<BarrierRow>();

    /// <summary>The next command this context executes ends with <c>COMMIT</c> (<see cref="CommitWithSave"/>).</summary>
    internal bool CommitWithNextCommand { get; set; }

    /// <summary>A command ended with <c>COMMIT</c>: the transaction is over on the server.</summary>
    internal bool CommittedByCommand { get; set; }

    /// <summary>Inserts reference data the service needs; called once at start-up after the schema exists. Must be idempotent.</summary>
    protected internal virtual Task SeedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.Entity<BarrierRow>(b =>
        {
            b.ToTable("saga_barrier");
            b.HasKey(x => new { x.SagaId, x.Step, x.Op });
            b.Property(x => x.SagaId).HasColumnName("saga_id");
            b.Property(x => x.Step).HasColumnName("step").HasMaxLength(200);
            b.Property(x => x.Op).HasColumnName("op").HasMaxLength(16);
            b.Property(x => x.Outcome).HasColumnName("outcome").HasMaxLength(32);
            b.Property(x => x.Reason).HasColumnName("reason");
            b.Property(x => x.Output).HasColumnName("output");
            b.Property(x => x.CreatedAt).HasColumnName("created_at");
        });
        base.OnModelCreating(modelBuilder);
    }
}
