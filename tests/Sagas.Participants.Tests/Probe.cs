using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Sagas.Participants.Tests;

/// <summary>A participant whose handlers misbehave on purpose, to prove what the barrier rolls back.</summary>
public sealed class ProbeDb(DbContextOptions<ProbeDb> options) : ParticipantDbContext(options)
{
    public DbSet<ProbeNote> Notes => Set<ProbeNote>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.Entity<ProbeNote>(b =>
        {
            b.ToTable("probe_notes");
            b.HasKey(x => x.Id);
            b.Property(x => x.Id).ValueGeneratedNever();
        });
    }

    public static async Task<int> CountAsync(IServiceProvider services, Guid sagaId)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ProbeDb>();
        return await db.Notes.CountAsync(n => n.SagaId == sagaId);
    }
}

public sealed class ProbeNote
{
    public Guid Id { get; set; }

    public Guid SagaId { get; set; }

    public string Text { get; set; } = "";
}

/// <summary>Writes, then declares a business failure: the write must not survive.</summary>
public sealed class WriteThenFailHandler : StepHandler<ProbeDb>
{
    public override string Action => "write-then-fail";

    public override string? Compensation => null;

    protected override async Task<StepResult> ExecuteAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = context.SagaId, Text = "should be rolled back" });
        await db.SaveChangesAsync(cancellationToken);
        return StepResult.BusinessFailure("probe declined after writing");
    }

    protected override Task<CompensationResult> CompensateAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken) =>
        Task.FromResult(CompensationResult.Compensated);
}

/// <summary>Writes, then throws a transient error on the first two tries of each saga; the third try commits.</summary>
public sealed class FlakyHandler(FlakyCounter counter) : StepHandler<ProbeDb>
{
    public override string Action => "flaky";

    public override string? Compensation => "unflaky";

    protected override async Task<StepResult> ExecuteAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = context.SagaId, Text = "flaky" });
        await db.SaveChangesAsync(cancellationToken);
        if (counter.Next(context.SagaId) <= counter.FailuresPerSaga)
        {
            throw new TimeoutException("simulated lock timeout");
        }

        return StepResult.Succeeded();
    }

    protected override Task<CompensationResult> CompensateAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken) =>
        Task.FromResult(CompensationResult.Failed("probe cannot undo", retryable: false));
}

public sealed class FlakyCounter
{
    private readonly ConcurrentDictionary<Guid, int> _calls = new();

    public int FailuresPerSaga { get; set; } = 2;

    public int Next(Guid sagaId) => _calls.AddOrUpdate(sagaId, 1, (_, n) => n + 1);

    public int Calls(Guid sagaId) => _calls.GetValueOrDefault(sagaId);
}

/// <summary>Asks to be retried on attempt 1 after writing; succeeds from attempt 2.</summary>
public sealed class RetryLaterHandler : StepHandler<ProbeDb>
{
    public override string Action => "retry-later";

    public override string? Compensation => null;

    protected override async Task<StepResult> ExecuteAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = context.SagaId, Text = $"attempt {context.Attempt}" });
        await db.SaveChangesAsync(cancellationToken);
        return context.Attempt == 1 ? StepResult.RetryableFailure("busy", TimeSpan.FromSeconds(5)) : StepResult.Succeeded();
    }

    protected override Task<CompensationResult> CompensateAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken) =>
        Task.FromResult(CompensationResult.Compensated);
}

/// <summary>Long work: writes a job note and answers "accepted"; the outcome is reported later through <see cref="StepReporter{TDb}"/>.</summary>
public sealed class LongWorkHandler(FlakyCounter counter) : StepHandler<ProbeDb>
{
    public const string JobNote = "job";

    public override string Action => "long-work";

    public override string? Compensation => "undo-long-work";

    /// <summary>Starting the work is an effect outside the transaction (the counter): a duplicate must not start it again.</summary>
    public override bool ClaimBeforeRunning => true;

    protected override async Task<StepResult> ExecuteAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        counter.Next(context.SagaId);
        db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = context.SagaId, Text = JobNote });
        await db.SaveChangesAsync(cancellationToken);
        return StepResult.Accepted(TimeSpan.FromSeconds(30));
    }

    protected override async Task<CompensationResult> CompensateAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        // Undoes the acceptance (the job) and, when the work finished first, its result.
        await db.Notes.Where(n => n.SagaId == context.SagaId).ExecuteDeleteAsync(cancellationToken);
        return CompensationResult.Compensated;
    }
}

/// <summary>Adds a note with the message's <c>text</c>; its compensation rewrites the saga's notes (a changed row, not a new one).</summary>
public sealed class NoteHandler : StepHandler<ProbeDb>
{
    public const string Compensated = "compensated";

    public override string Action => "note";

    public override string? Compensation => "rewrite-note";

    protected override Task<StepResult> ExecuteAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        // An "id" in the data gives the note a chosen key, so a test can make the save collide with another saga's note.
        var id = context.Data.TryGetProperty("id", out var given) ? given.GetGuid() : Guid.NewGuid();
        db.Notes.Add(new ProbeNote { Id = id, SagaId = context.SagaId, Text = context.Data.GetProperty("text").GetString()! });
        return Task.FromResult(StepResult.Succeeded());
    }

    protected override async Task<CompensationResult> CompensateAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        var sagaId = context.SagaId;
        foreach (var note in await db.Notes.Where(n => n.SagaId == sagaId).ToListAsync(cancellationToken))
        {
            note.Text = Compensated;
        }

        return CompensationResult.Compensated;
    }
}

/// <summary>
/// The first call of a saga writes a note, waits at its gate, then declares a business failure; later calls write a
/// note and succeed: a failure and a success of one step can then race.
/// </summary>
public sealed class FailFirstHandler(FlakyCounter counter, HandlerGates gates) : StepHandler<ProbeDb>
{
    public override string Action => "fail-first";

    public override string? Compensation => null;

    protected override async Task<StepResult> ExecuteAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        var first = counter.Next(context.SagaId) == 1;
        db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = context.SagaId, Text = first ? "failed" : "succeeded" });
        await db.SaveChangesAsync(cancellationToken);
        if (!first)
        {
            return StepResult.Succeeded();
        }

        await gates.PassAsync(context.SagaId, cancellationToken);
        return StepResult.BusinessFailure("probe declined on its first call");
    }

    protected override Task<CompensationResult> CompensateAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken) =>
        Task.FromResult(CompensationResult.Compensated);
}

/// <summary>
/// Counts its calls per saga and adds a note "call n"; the first call of a saga waits at its gate (after running, before
/// the barrier saves). Its output says which call it was, so a reply shows whose row it came from. With a <c>lock</c>
/// note id in the data it first updates that note, holding its row lock until the try ends.
/// </summary>
public sealed class GatedNoteHandler(FlakyCounter counter, HandlerGates gates) : StepHandler<ProbeDb>
{
    public override string Action => "gated-note";

    public override string? Compensation => null;

    protected override async Task<StepResult> ExecuteAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken)
    {
        var call = counter.Next(context.SagaId);
        if (context.Data.TryGetProperty("lock", out var locked))
        {
            var id = locked.GetGuid();
            await db.Notes.Where(n => n.Id == id).ExecuteUpdateAsync(u => u.SetProperty(n => n.Text, $"locked by call {call}"), cancellationToken);
        }

        db.Notes.Add(new ProbeNote { Id = Guid.NewGuid(), SagaId = context.SagaId, Text = $"call {call}" });
        if (call == 1)
        {
            await gates.PassAsync(context.SagaId, cancellationToken);
        }

        return StepResult.SucceededWith(new { call });
    }

    protected override Task<CompensationResult> CompensateAsync(StepContext context, ProbeDb db, CancellationToken cancellationToken) =>
        Task.FromResult(CompensationResult.Compensated);
}

/// <summary>Records the text of every command the probe participant's contexts ran, failed ones included.</summary>
public sealed class CommandLog : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
{
    private readonly ConcurrentQueue<string> _commands = new();

    public int Count => _commands.Count;

    /// <summary>The commands after the first <paramref name="skip"/>.</summary>
    public List<string> Since(int skip) => _commands.Skip(skip).ToList();

    // Logged once run, so the text includes what other interceptors appended (the COMMIT of a one-trip save).
    public override ValueTask<System.Data.Common.DbDataReader> ReaderExecutedAsync(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, System.Data.Common.DbDataReader result, CancellationToken cancellationToken = default)
    {
        _commands.Enqueue(command.CommandText);
        return ValueTask.FromResult(result);
    }

    public override ValueTask<int> NonQueryExecutedAsync(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        _commands.Enqueue(command.CommandText);
        return ValueTask.FromResult(result);
    }

    public override ValueTask<object?> ScalarExecutedAsync(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, object? result, CancellationToken cancellationToken = default)
    {
        _commands.Enqueue(command.CommandText);
        return ValueTask.FromResult(result);
    }

    public override Task CommandFailedAsync(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        _commands.Enqueue(command.CommandText);
        return Task.CompletedTask;
    }
}

/// <summary>A gate per saga: a handler reaching it says so and waits until the test opens it.</summary>
public sealed class HandlerGates
{
    private readonly ConcurrentDictionary<Guid, (TaskCompletionSource Reached, TaskCompletionSource Open)> _gates = new();

    public Task ReachedAsync(Guid sagaId) => Get(sagaId).Reached.Task;

    public void Open(Guid sagaId) => Get(sagaId).Open.TrySetResult();

    public async Task PassAsync(Guid sagaId, CancellationToken cancellationToken)
    {
        var gate = Get(sagaId);
        gate.Reached.TrySetResult();
        await gate.Open.Task.WaitAsync(cancellationToken);
    }

    private (TaskCompletionSource Reached, TaskCompletionSource Open) Get(Guid sagaId) =>
        _gates.GetOrAdd(sagaId, _ => (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)));
}

/// <summary>Counts transactions committed through EF's transaction API.</summary>
public sealed class CommitCounter : Microsoft.EntityFrameworkCore.Diagnostics.DbTransactionInterceptor
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public override Task TransactionCommittedAsync(System.Data.Common.DbTransaction transaction, Microsoft.EntityFrameworkCore.Diagnostics.TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return Task.CompletedTask;
    }

    public override void TransactionCommitted(System.Data.Common.DbTransaction transaction, Microsoft.EntityFrameworkCore.Diagnostics.TransactionEndEventData eventData) =>
        Interlocked.Increment(ref _count);
}

/// <summary>Collects what a <see cref="StepReporter{TDb}"/> sends, instead of a bus.</summary>
public sealed class RecordingReplySender : IStepReplySender
{
    public ConcurrentQueue<object> Sent { get; } = new();

    public Task SendAsync(object reply, Guid sagaId, CancellationToken cancellationToken)
    {
        Sent.Enqueue(reply);
        return Task.CompletedTask;
    }

    public IReadOnlyList<object> For(Guid sagaId) =>
        Sent.Where(r => r switch
        {
            Sagas.Contracts.StepHeartbeat h => h.SagaId == sagaId,
            Sagas.Contracts.StepSucceeded s => s.SagaId == sagaId,
            Sagas.Contracts.StepFailed f => f.SagaId == sagaId,
            _ => false,
        }).ToList();
}
