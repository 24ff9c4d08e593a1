using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Sagas.Contracts;
using Sagas.Samples;
using Sagas.Samples.Payments;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// A command batch consumed by the sample payments participant on PostgreSQL: its first attempts share a transaction,
/// the rest are handled beside them, every command is answered once and correlated to itself, and the balance moves by
/// exactly what the committed charges say, also when a shared try rolled back and its commands went alone.
/// </summary>
public sealed class SharedTransactionBusTests : IAsyncLifetime
{
    private readonly string _prefix = $"sagas_test_bus_{Guid.NewGuid():N}"[..30] + "_";
    private readonly BusTests.ReplyLog _replies = new();
    private ServiceProvider? _services;
    private ITestHarness _harness = null!;

    private static string? PostgresBase => Environment.GetEnvironmentVariable(ParticipantFixture.PostgresVariable);

    public async Task InitializeAsync()
    {
        if (string.IsNullOrWhiteSpace(PostgresBase))
        {
            return;
        }

        var services = new ServiceCollection();
        services.AddSampleParticipants(SamplesOptions.ForPostgres(PostgresBase, _prefix));
        services.AddSingleton(_replies);
        services.AddMassTransitTestHarness(x =>
        {
            x.AddSagaParticipants();
            x.AddConsumer<BusTests.ReplyCollector>().Endpoint(e => e.Name = Endpoints.Coordinator);
        });
        _services = services.BuildServiceProvider(true);
        await ParticipantDatabase.InitializeAsync<PaymentsDb>(_services);
        _harness = _services.GetRequiredService<ITestHarness>();
        await _harness.Start();
    }

    public async Task DisposeAsync()
    {
        if (_services is null)
        {
            return;
        }

        await _harness.Stop();
        await _services.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(SamplesOptions.WithDatabase(PostgresBase!, "postgres"));
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_prefix}{SampleServices.Payments}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }

    [SkippableFact]
    public async Task FirstAttemptsShareOneCommit_OthersBesideThem_EachAnsweredOnce()
    {
        Skip.If(_services is null, ParticipantFixture.PostgresVariable + " not set");
        var balance = await BalanceAsync();
        var charged = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToArray();
        var (redriven, undone) = (Guid.NewGuid(), Guid.NewGuid());
        var commands = charged.Select(s => new BatchedStepCommand(NewId.NextGuid(), Execute: ChargeCommand(s, attempt: 1))).ToList();
        commands.Add(new BatchedStepCommand(NewId.NextGuid(), Execute: ChargeCommand(redriven, attempt: 2)));
        commands.Add(new BatchedStepCommand(NewId.NextGuid(), Compensate: Orders.Compensate(undone, "pay", "refund", 1, Orders.Data())));

        await SendAsync(new StepCommandBatch(commands));

        foreach (var (command, saga) in commands.Zip(charged.Append(redriven).Append(undone)))
        {
            var reply = Assert.Single(await _replies.WaitAsync(saga, count: 1));
            Assert.Equal(command.MessageId, reply.CorrelationId);
            Assert.IsType(saga == undone ? typeof(StepCompensated) : typeof(StepSucceeded), reply.Message);
        }

        // 25.00 each for four charges; the three first attempts in one transaction, the second attempt in its own.
        Assert.Equal(balance - 4 * 2500, await BalanceAsync());
        Assert.Equal(1, await TransactionsAsync(charged));
        Assert.Equal(2, await TransactionsAsync([.. charged, redriven]));
    }

    [SkippableFact]
    public async Task ADeclinedChargeInTheBatch_RollsTheSharedTryBack_TheOthersAreChargedOnce()
    {
        Skip.If(_services is null, ParticipantFixture.PostgresVariable + " not set");
        var balance = await BalanceAsync();
        var (first, declined, second) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var commands = new List<BatchedStepCommand>
        {
            new(NewId.NextGuid(), Execute: ChargeCommand(first, attempt: 1)),
            new(NewId.NextGuid(), Execute: Orders.Execute(declined, "pay", "charge", 1, Orders.Data(customer: "nobody"))),
            new(NewId.NextGuid(), Execute: ChargeCommand(second, attempt: 1)),
        };

        await SendAsync(new StepCommandBatch(commands));

        Assert.IsType<StepSucceeded>(Assert.Single(await _replies.WaitAsync(first, count: 1)).Message);
        Assert.False(Assert.IsType<StepFailed>(Assert.Single(await _replies.WaitAsync(declined, count: 1)).Message).Retryable);
        Assert.IsType<StepSucceeded>(Assert.Single(await _replies.WaitAsync(second, count: 1)).Message);

        // The shared try debited the first charge before the decline rolled it back: charged once in all.
        Assert.Equal(balance - 2 * 2500, await BalanceAsync());
        Assert.Equal(2, await TransactionsAsync([first, second]));
    }

    private static ExecuteStep ChargeCommand(Guid saga, int attempt) => Orders.Execute(saga, "pay", "charge", attempt, Orders.Data(amount: 25.00m));

    private async Task SendAsync(StepCommandBatch batch) =>
        await (await _harness.Bus.GetSendEndpoint(new Uri("queue:" + SampleServices.Payments))).Send(batch);

    private async Task<long> BalanceAsync()
    {
        await using var scope = _services!.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentsDb>();
        return await db.Accounts.Where(a => a.CustomerId == PaymentsDb.DemoCustomer).Select(a => a.BalanceCents).SingleAsync();
    }

    /// <summary>How many transactions wrote the sagas' charges.</summary>
    private async Task<int> TransactionsAsync(IReadOnlyList<Guid> sagas)
    {
        await using var scope = _services!.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentsDb>();
        var ids = new NpgsqlParameter("ids", sagas.ToArray());
        var charges = db.Model.FindEntityType(typeof(Charge))!;
        var sql = "SELECT count(DISTINCT xmin::text)::int AS \"Value\" FROM " + charges.GetTableName()
            + " WHERE \"" + charges.FindProperty(nameof(Charge.SagaId))!.GetColumnName() + "\" = ANY(@ids)";
        return await db.Database.SqlQueryRaw<int>(sql, ids).SingleAsync();
    }
}
