using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sagas.Participants;
using Sagas.Participants.Transport;
using CompensationResult = Sagas.Participants.CompensationResult;

namespace Sagas.Bench.Throughput.Ours;

/// <summary>
/// `Sagas.Bench.Throughput host ours-participants`: ours' three participants (inventory, payments, shipping, each with
/// its own PostgreSQL database) doing the benchmark's workload and nothing more, one INSERT per step as the peers'
/// participants do, through the participant library (barrier row and business row in one transaction). The sample
/// participants (`Sagas.Samples.Host`) also read the order and update a stock or balance row before their INSERT;
/// `--systems ours-samples` measures those.
/// </summary>
public static class OneWriteParticipants
{
    public static async Task<int> RunAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var configuration = builder.Configuration;
        var transport = configuration.GetSection(TransportOptions.Section).Get<TransportOptions>() ?? new TransportOptions();
        builder.Services.AddSagaParticipant<InventorySteps>("inventory", (_, db) => db.UseSagasPostgres(Require(configuration, "Inventory")), p => p.AddHandler<ReserveHandler>());
        builder.Services.AddSagaParticipant<PaymentsSteps>("payments", (_, db) => db.UseSagasPostgres(Require(configuration, "Payments")), p => p.AddHandler<ChargeHandler>());
        builder.Services.AddSagaParticipant<ShippingSteps>("shipping", (_, db) => db.UseSagasPostgres(Require(configuration, "Shipping")), p => p.AddHandler<BookHandler>());
        builder.Services.AddMassTransit(bus =>
        {
            bus.AddSagaParticipants();
            bus.UseSagasTransport(transport);
        });
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = false);
        await builder.Build().RunAsync();
        return 0;
    }

    private static string Require(IConfiguration configuration, string name) =>
        configuration.GetConnectionString(name) ?? throw new InvalidOperationException($"ConnectionStrings:{name} is not set");

    public sealed class StepWrite
    {
        public Guid SagaId { get; set; }

        public string Step { get; set; } = "";

        public DateTimeOffset WrittenAt { get; set; }
    }

    /// <summary>A participant's database: the barrier table and <c>step_writes</c>, the peers' table.</summary>
    public abstract class StepsDb(DbContextOptions options) : ParticipantDbContext(options)
    {
        public DbSet<StepWrite> StepWrites => Set<StepWrite>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            base.OnModelCreating(modelBuilder);
            modelBuilder.Entity<StepWrite>(b =>
            {
                b.ToTable("step_writes");
                b.HasKey(x => new { x.SagaId, x.Step });
                b.Property(x => x.SagaId).HasColumnName("saga_id");
                b.Property(x => x.Step).HasColumnName("step");
                b.Property(x => x.WrittenAt).HasColumnName("written_at");
            });
        }
    }

    public sealed class InventorySteps(DbContextOptions<InventorySteps> options) : StepsDb(options);

    public sealed class PaymentsSteps(DbContextOptions<PaymentsSteps> options) : StepsDb(options);

    public sealed class ShippingSteps(DbContextOptions<ShippingSteps> options) : StepsDb(options);

    /// <summary>The step's one write: a row added for the barrier's save; its compensation deletes it.</summary>
    public abstract class OneWriteHandler<TDb> : StepHandler<TDb>
        where TDb : StepsDb
    {
        protected override Task<StepResult> ExecuteAsync(StepContext context, TDb db, CancellationToken cancellationToken)
        {
            db.StepWrites.Add(new StepWrite { SagaId = context.SagaId, Step = context.Step, WrittenAt = DateTimeOffset.UtcNow });
            return Task.FromResult(StepResult.Succeeded());
        }

        protected override async Task<CompensationResult> CompensateAsync(StepContext context, TDb db, CancellationToken cancellationToken)
        {
            var (sagaId, step) = (context.SagaId, context.Step);
            await db.StepWrites.Where(w => w.SagaId == sagaId && w.Step == step).ExecuteDeleteAsync(cancellationToken);
            return CompensationResult.Compensated;
        }
    }

    public sealed class ReserveHandler : OneWriteHandler<InventorySteps>
    {
        public override string Action => "reserve";

        public override string? Compensation => "release";
    }

    public sealed class ChargeHandler : OneWriteHandler<PaymentsSteps>
    {
        public override string Action => "charge";

        public override string? Compensation => "refund";
    }

    public sealed class BookHandler : OneWriteHandler<ShippingSteps>
    {
        public override string Action => "book";

        public override string? Compensation => "cancel";
    }
}
