using Microsoft.EntityFrameworkCore;
using Sagas.Participants;

namespace Sagas.Samples.Inventory;

public sealed class InventoryDb(DbContextOptions<InventoryDb> options) : ParticipantDbContext(options)
{
    public const string DemoSku = "sku-1";
    public const long DemoStock = 1_000_000;

    public DbSet<StockItem> Stock => Set<StockItem>();

    public DbSet<Reservation> Reservations => Set<Reservation>();

    protected override async Task SeedAsync(CancellationToken cancellationToken)
    {
        if (!await Stock.AnyAsync(s => s.Sku == DemoSku, cancellationToken))
        {
            Stock.Add(new StockItem { Sku = DemoSku, Available = DemoStock });
            await SaveChangesAsync(cancellationToken);
        }
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.Entity<StockItem>(b =>
        {
            b.ToTable("stock");
            b.HasKey(x => x.Sku);
            b.Property(x => x.Sku).HasColumnName("sku").HasMaxLength(100);
            b.Property(x => x.Available).HasColumnName("available");
        });
        modelBuilder.Entity<Reservation>(b =>
        {
            b.ToTable("reservations");
            b.HasKey(x => new { x.SagaId, x.Step });
            b.Property(x => x.SagaId).HasColumnName("saga_id");
            b.Property(x => x.Step).HasColumnName("step").HasMaxLength(200);
            b.Property(x => x.OrderId).HasColumnName("order_id").HasMaxLength(100);
            b.Property(x => x.Sku).HasColumnName("sku").HasMaxLength(100);
            b.Property(x => x.Quantity).HasColumnName("quantity");
            b.Property(x => x.Released).HasColumnName("released");
        });
    }
}

public sealed class StockItem
{
    public string Sku { get; set; } = "";

    public long Available { get; set; }
}

public sealed class Reservation
{
    public Guid SagaId { get; set; }

    public string Step { get; set; } = "";

    public string OrderId { get; set; } = "";

    public string Sku { get; set; } = "";

    public int Quantity { get; set; }

    public bool Released { get; set; }
}
