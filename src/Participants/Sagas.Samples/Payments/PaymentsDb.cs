using Microsoft.EntityFrameworkCore;
using Sagas.Participants;

namespace Sagas.Samples.Payments;

public sealed class PaymentsDb(DbContextOptions<PaymentsDb> options) : ParticipantDbContext(options)
{
    public const string DemoCustomer = "c-1";
    public const long DemoBalanceCents = 100_000_000;

    public DbSet<Account> Accounts => Set<Account>();

    public DbSet<Charge> Charges => Set<Charge>();

    protected override async Task SeedAsync(CancellationToken cancellationToken)
    {
        if (!await Accounts.AnyAsync(a => a.CustomerId == DemoCustomer, cancellationToken))
        {
            Accounts.Add(new Account { CustomerId = DemoCustomer, BalanceCents = DemoBalanceCents });
            await SaveChangesAsync(cancellationToken);
        }
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.Entity<Account>(b =>
        {
            b.ToTable("accounts");
            b.HasKey(x => x.CustomerId);
            b.Property(x => x.CustomerId).HasColumnName("customer_id").HasMaxLength(100);
            b.Property(x => x.BalanceCents).HasColumnName("balance_cents");
        });
        modelBuilder.Entity<Charge>(b =>
        {
            b.ToTable("charges");
            b.HasKey(x => new { x.SagaId, x.Step });
            b.Property(x => x.SagaId).HasColumnName("saga_id");
            b.Property(x => x.Step).HasColumnName("step").HasMaxLength(200);
            b.Property(x => x.OrderId).HasColumnName("order_id").HasMaxLength(100);
            b.Property(x => x.CustomerId).HasColumnName("customer_id").HasMaxLength(100);
            b.Property(x => x.AmountCents).HasColumnName("amount_cents");
            b.Property(x => x.Refunded).HasColumnName("refunded");
        });
    }
}

public sealed class Account
{
    public string CustomerId { get; set; } = "";

    public long BalanceCents { get; set; }
}

public sealed class Charge
{
    public Guid SagaId { get; set; }

    public string Step { get; set; } = "";

    public string OrderId { get; set; } = "";

    public string CustomerId { get; set; } = "";

    public long AmountCents { get; set; }

    public bool Refunded { get; set; }
}
