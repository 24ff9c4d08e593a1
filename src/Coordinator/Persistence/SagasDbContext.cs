using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Sagas.Coordinator.Engine;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// The coordinator's store: sagas, history, inbox, outbox and definitions. One subclass per provider
/// carries that provider's migrations. With a <see cref="Cipher"/> the columns that hold payloads (saga data,
/// deferred replies, signals, recorded events) are encrypted on write and decrypted on read, so everything above
/// this class sees plain JSON and nothing readable reaches the database.
/// </summary>
public abstract class SagasDbContext(DbContextOptions options, PayloadCipher? cipher = null) : DbContext(options)
{
    /// <summary>
    /// The JSON of the steps, deferred replies and signals columns. Nulls, zeros and <c>false</c> are left out: every
    /// property's default is what reading a missing one gives, so rows written before read the same. A step that has
    /// not run is then its name alone, and the steps of a finished three-step saga take 473 bytes instead of 788: the
    /// saga row, rewritten on every transition, has less to write, to log and to parse.
    /// </summary>
    private static readonly JsonSerializerOptions StepJson = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault };

    public DbSet<SagaInstance> Sagas => Set<SagaInstance>();

    public DbSet<HistoryRecord> History => Set<HistoryRecord>();

    public DbSet<SagaTimerRecord> Timers => Set<SagaTimerRecord>();

    public DbSet<InboxRecord> Inbox => Set<InboxRecord>();

    public DbSet<OutboxRecord> Outbox => Set<OutboxRecord>();

    public DbSet<DefinitionRecord> Definitions => Set<DefinitionRecord>();

    public DbSet<CompensationRecord> Compensations => Set<CompensationRecord>();

    public DbSet<ApiKeyRecord> ApiKeys => Set<ApiKeyRecord>();

    public DbSet<SagaEventRecord> Events => Set<SagaEventRecord>();

    public DbSet<ClaimRecord> Claims => Set<ClaimRecord>();

    /// <summary>Encrypts payload columns when set; part of the model's cache key (see <see cref="CipherModelCacheKeyFactory"/>).</summary>
    public PayloadCipher? Cipher => cipher;

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.Entity<SagaInstance>(e =>
        {
            e.ToTable("sagas");
            e.HasKey(x => x.Id);
            e.Property(x => x.Definition).HasMaxLength(100).IsRequired();
            e.Property(x => x.State).HasConversion<string>().HasMaxLength(20);
            e.Property(x => x.Data).IsRequired();
            if (cipher is not null)
            {
                e.Property(x => x.Data).HasConversion(v => cipher.EncryptText(v), v => cipher.DecryptText(v));
            }

            e.Property(x => x.BusinessKey).HasMaxLength(200);
            e.Property(x => x.Tenant).HasMaxLength(100);
            e.Property(x => x.Reason).HasMaxLength(2000);
            e.Property(x => x.ConcurrencyVersion).IsConcurrencyToken();
            e.Property(x => x.Steps)
                .HasConversion(new ValueConverter<List<StepState>, string>(
                    v => JsonSerializer.Serialize(v, StepJson),
                    v => JsonSerializer.Deserialize<List<StepState>>(v, StepJson) ?? new List<StepState>()))
                .Metadata.SetValueComparer(new ValueComparer<List<StepState>>(
                    (a, b) => a!.SequenceEqual(b!),
                    v => v.Count,
                    v => StepState.CopyAll(v)));
            e.Property(x => x.CompensationTrigger).HasMaxLength(20);
            e.Property(x => x.PausedFrom).HasConversion<string>().HasMaxLength(20);
            e.Property(x => x.Deferred)
                .HasConversion(ListColumn<DeferredReply>())
                .Metadata.SetValueComparer(new ValueComparer<List<DeferredReply>>(
                    (a, b) => a!.SequenceEqual(b!),
                    v => v.Count,
                    v => v.ToList()));
            e.Property(x => x.Signals)
                .HasConversion(ListColumn<ReceivedSignal>())
                .Metadata.SetValueComparer(new ValueComparer<List<ReceivedSignal>>(
                    (a, b) => a!.SequenceEqual(b!),
                    v => v.Count,
                    v => v.ToList()));
            // No index on NextWakeAt: the poller reads saga_timers, so a transition that only moves the wake-up
            // changes no indexed column.

            // Search: every filter is followed by the keyset order (CreatedAt, Id) so pages are index range scans.
            e.HasIndex(x => new { x.CreatedAt, x.Id });
            e.HasIndex(x => new { x.State, x.CreatedAt, x.Id });
            e.HasIndex(x => new { x.Definition, x.CreatedAt, x.Id });
            e.HasIndex(x => new { x.BusinessKey, x.CreatedAt, x.Id });
            e.HasIndex(x => new { x.Tenant, x.CreatedAt, x.Id });

            // A tenant-scoped key always filters by tenant, so "my failed sagas" needs both in one index.
            e.HasIndex(x => new { x.Tenant, x.State, x.CreatedAt, x.Id });
        });

        modelBuilder.Entity<HistoryRecord>(e =>
        {
            e.ToTable("saga_history");

            // The natural key: one index that both orders a saga's history and refuses a second entry at one place.
            e.HasKey(x => new { x.SagaId, x.Sequence });
            e.Property(x => x.Type).HasMaxLength(50).IsRequired();
            e.Property(x => x.Step).HasMaxLength(100);
            e.Property(x => x.Detail).HasMaxLength(4000);
            e.Property(x => x.Actor).HasMaxLength(200).IsRequired();
        });

        modelBuilder.Entity<SagaTimerRecord>(e =>
        {
            e.ToTable("saga_timers");
            e.HasKey(x => x.SagaId);
            e.HasIndex(x => x.WakeAt);
        });

        modelBuilder.Entity<InboxRecord>(e =>
        {
            e.ToTable("inbox");
            e.HasKey(x => x.MessageId);

            // Retention deletes a finished saga's inbox rows by saga id.
            e.HasIndex(x => x.SagaId);
        });

        modelBuilder.Entity<OutboxRecord>(e =>
        {
            e.ToTable("outbox");
            e.HasKey(x => x.Id);
            e.Ignore(x => x.Message);
            e.Property(x => x.Queue).HasMaxLength(200);
            e.Property(x => x.MessageType).HasMaxLength(100).IsRequired();
            e.Property(x => x.Body).IsRequired();
            e.HasIndex(x => x.CreatedAt);
        });

        modelBuilder.Entity<CompensationRecord>(e =>
        {
            e.ToTable("compensations");
            e.HasKey(x => new { x.SagaId, x.Step });
            e.Property(x => x.Step).HasMaxLength(100);
            e.Property(x => x.Definition).HasMaxLength(100).IsRequired();
            e.Property(x => x.Trigger).HasMaxLength(20).IsRequired();
            e.Property(x => x.Outcome).HasMaxLength(20).IsRequired();
            e.Property(x => x.LastError).HasMaxLength(2000);
            e.Property(x => x.Tenant).HasMaxLength(100);
            e.HasIndex(x => new { x.Outcome, x.UpdatedAt });
            e.HasIndex(x => new { x.Definition, x.Step, x.UpdatedAt });
            e.HasIndex(x => x.UpdatedAt);
        });

        modelBuilder.Entity<SagaEventRecord>(e =>
        {
            e.ToTable("saga_events");
            e.HasKey(x => new { x.SagaId, x.Version });
            e.Ignore(x => x.At);
            e.Property(x => x.Kind).HasMaxLength(50).IsRequired();
            e.Property(x => x.Json).IsRequired();
            if (cipher is not null)
            {
                e.Property(x => x.Json).HasConversion(v => cipher.EncryptText(v), v => cipher.DecryptText(v));
            }
        });

        modelBuilder.Entity<ClaimRecord>(e =>
        {
            e.ToTable("payload_claims");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(100);
            e.Property(x => x.Sha256).HasMaxLength(64).IsRequired();
            e.Property(x => x.Body).IsRequired();

            // Retention deletes a finished saga's claims by saga id.
            e.HasIndex(x => x.SagaId);
        });

        modelBuilder.Entity<ApiKeyRecord>(e =>
        {
            e.ToTable("api_keys");
            e.HasKey(x => x.Name);
            e.Property(x => x.Name).HasMaxLength(100);
            e.Property(x => x.Hash).HasMaxLength(128).IsRequired();
            e.Property(x => x.Role).HasMaxLength(20).IsRequired();
            e.Property(x => x.Tenant).HasMaxLength(100);
        });

        modelBuilder.Entity<DefinitionRecord>(e =>
        {
            e.ToTable("definitions");
            e.HasKey(x => new { x.Name, x.Version });
            e.Property(x => x.Name).HasMaxLength(100);
            e.Property(x => x.Json).IsRequired();
        });
    }

    /// <summary>A list kept as one JSON column, encrypted as a whole when there is a cipher.</summary>
    private ValueConverter<List<T>, string> ListColumn<T>() => cipher is null
        ? new(v => JsonSerializer.Serialize(v, StepJson), v => JsonSerializer.Deserialize<List<T>>(v, StepJson) ?? new List<T>())
        : new(v => cipher.EncryptText(JsonSerializer.Serialize(v, StepJson)), v => JsonSerializer.Deserialize<List<T>>(cipher.DecryptText(v), StepJson) ?? new List<T>());
}
