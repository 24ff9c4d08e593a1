using Microsoft.EntityFrameworkCore;
using Sagas.Participants;

namespace Sagas.Samples.Shipping;

public sealed class ShippingDb(DbContextOptions<ShippingDb> options) : ParticipantDbContext(options)
{
    public DbSet<Shipment> Shipments => Set<Shipment>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.Entity<Shipment>(b =>
        {
            b.ToTable("shipments");
            b.HasKey(x => new { x.SagaId, x.Step });
            b.HasIndex(x => x.OrderId);
            b.Property(x => x.SagaId).HasColumnName("saga_id");
            b.Property(x => x.Step).HasColumnName("step").HasMaxLength(200);
            b.Property(x => x.OrderId).HasColumnName("order_id").HasMaxLength(100);
            b.Property(x => x.Country).HasColumnName("country").HasMaxLength(8);
            b.Property(x => x.Cancelled).HasColumnName("cancelled");
        });
    }
}

public sealed class Shipment
{
    public Guid SagaId { get; set; }

    public string Step { get; set; } = "";

    public string OrderId { get; set; } = "";

    public string Country { get; set; } = "";

    public bool Cancelled { get; set; }
}
