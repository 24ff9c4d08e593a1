using System.Collections.Concurrent;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Contracts;
using Sagas.Samples;
using Sagas.Samples.Inventory;
using Sagas.Samples.Payments;
using Sagas.Samples.Shipping;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>All three samples in one in-memory bus, replying to a stand-in coordinator queue.</summary>
public sealed class BusTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "sagas-participants-tests", "bus-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ReplyLog _replies = new();
    private ServiceProvider _services = null!;
    private ITestHarness _harness = null!;

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection();
        services.AddSampleParticipants(SamplesOptions.ForSqlite(_directory));
        services.AddSingleton(_replies);
        services.Configure<ParticipantReplyOptions>(o => o.SendEveryReplyTwice = true);
        services.AddMassTransitTestHarness(x =>
        {
            x.AddSagaParticipants();
            x.AddConsumer<ReplyCollector>().Endpoint(e => e.Name = Endpoints.Coordinator);
        });
        _services = services.BuildServiceProvider(true);
        await ParticipantDatabase.InitializeAsync<InventoryDb>(_services);
        await ParticipantDatabase.InitializeAsync<PaymentsDb>(_services);
        await ParticipantDatabase.InitializeAsync<ShippingDb>(_services);
        _harness = _services.GetRequiredService<ITestHarness>();
        await _harness.Start();
    }

    public async Task DisposeAsync()
    {
        await _harness.Stop();
        await _services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Consumer_ExecuteStep_RepliesTwiceToCoordinatorWithCorrelation()
    {
        var saga = Guid.NewGuid();
        var commandId = NewId.NextGuid();
        var endpoint = await _harness.Bus.GetSendEndpoint(new Uri("queue:" + SampleServices.Payments));

        await endpoint.Send(Orders.Execute(saga, "pay", "charge", 1, Orders.Data()), ctx => ctx.MessageId = commandId);
        var replies = await _replies.WaitAsync(saga, count: 2);

        Assert.All(replies, r => Assert.IsType<StepSucceeded>(r.Message));
        Assert.All(replies, r => Assert.Equal(commandId, r.CorrelationId));
        Assert.All(replies, r => Assert.Equal(saga.ToString(), r.SagaHeader));
        Assert.Single(replies.Select(r => r.MessageId).Distinct());
    }

    [Fact]
    public async Task Consumer_SeveralParticipantsOneBus_EachAnswersOnItsQueue()
    {
        var saga = Guid.NewGuid();
        var data = Orders.Data(country: "AQ");
        await (await _harness.Bus.GetSendEndpoint(new Uri("queue:" + SampleServices.Inventory))).Send(Orders.Execute(saga, "reserve", "reserve", 1, data));
        await (await _harness.Bus.GetSendEndpoint(new Uri("queue:" + SampleServices.Shipping))).Send(Orders.Execute(saga, "ship", "book", 1, data));
        await (await _harness.Bus.GetSendEndpoint(new Uri("queue:" + SampleServices.Shipping))).Send(Orders.Compensate(saga, "ship", "cancel", 1, data));

        var replies = await _replies.WaitAsync(saga, count: 6);

        Assert.Contains(replies, r => r.Message is StepSucceeded { Step: "reserve" });
        Assert.Contains(replies, r => r.Message is StepFailed { Step: "ship", Retryable: false });
        Assert.Contains(replies, r => r.Message is StepCompensated { Step: "ship" });
    }

    /// <summary>
    /// A batch is handled command by command: the good ones answer (each reply correlated to its own command, replies
    /// ready together in one batch), and a malformed one is sent on alone, fails there and lands in the error queue,
    /// without holding the others back.
    /// </summary>
    [Fact]
    public async Task Consumer_CommandBatch_GoodOnesAnswerMalformedFailsAlone()
    {
        var (first, second, malformed) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var ids = Enumerable.Range(0, 3).Select(_ => NewId.NextGuid()).ToArray();
        var batch = new StepCommandBatch(
        [
            new BatchedStepCommand(ids[0], Execute: Orders.Execute(first, "pay", "charge", 1, Orders.Data())),
            new BatchedStepCommand(ids[1], Execute: Orders.Execute(second, "pay", "charge", 1, Orders.Data())),
            new BatchedStepCommand(ids[2], Execute: Orders.Execute(malformed, "", "charge", 1, Orders.Data())),
        ]);

        await (await _harness.Bus.GetSendEndpoint(new Uri("queue:" + SampleServices.Payments))).Send(batch);

        var firstReplies = await _replies.WaitAsync(first, count: 2);
        var secondReplies = await _replies.WaitAsync(second, count: 2);
        Assert.All(firstReplies, r => Assert.Equal(ids[0], r.CorrelationId));
        Assert.All(secondReplies, r => Assert.Equal(ids[1], r.CorrelationId));
        Assert.All(firstReplies.Concat(secondReplies), r => Assert.IsType<StepSucceeded>(r.Message));
        Assert.Single(firstReplies.Select(r => r.MessageId).Distinct());

        Assert.True(await _harness.Published.Any<Fault<ExecuteStep>>(f => f.Context.Message.Message.SagaId == malformed));
        Assert.True(await _harness.Consumed.Any<ExecuteStep>(c => c.Context.Message.SagaId == malformed && c.Context.MessageId == ids[2]));
        Assert.True(await _harness.Consumed.Any<StepCommandBatch>());
        await _replies.WaitAsync(malformed, count: 0);
    }

    /// <summary>A batch that is not well formed fails whole, before any command runs: nothing half done, all in the error queue.</summary>
    [Fact]
    public async Task Consumer_MalformedBatch_FailsWholeAndNothingRuns()
    {
        var saga = Guid.NewGuid();
        var execute = Orders.Execute(saga, "pay", "charge", 1, Orders.Data());
        var batch = new StepCommandBatch([new BatchedStepCommand(NewId.NextGuid(), Execute: execute, Compensate: Orders.Compensate(saga, "pay", "refund", 1, Orders.Data()))]);

        await (await _harness.Bus.GetSendEndpoint(new Uri("queue:" + SampleServices.Payments))).Send(batch);

        Assert.True(await _harness.Published.Any<Fault<StepCommandBatch>>());
        await _replies.WaitAsync(saga, count: 0);
    }

    public sealed record Received(object Message, Guid? MessageId, Guid? CorrelationId, string? SagaHeader);

    public sealed class ReplyLog
    {
        private readonly ConcurrentQueue<(Guid SagaId, Received Reply)> _items = new();

        public void Add(Guid sagaId, Received reply) => _items.Enqueue((sagaId, reply));

        public async Task<IReadOnlyList<Received>> WaitAsync(Guid sagaId, int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                var found = _items.Where(i => i.SagaId == sagaId).Select(i => i.Reply).ToList();
                if (found.Count >= count || DateTime.UtcNow > deadline)
                {
                    Assert.Equal(count, found.Count);
                    return found;
                }

                await Task.Delay(20);
            }
        }
    }

    public sealed class ReplyCollector(ReplyLog log) :
        IConsumer<StepSucceeded>,
        IConsumer<StepFailed>,
        IConsumer<StepCompensated>,
        IConsumer<CompensationFailed>,
        IConsumer<StepReplyBatch>
    {
        public Task Consume(ConsumeContext<StepReplyBatch> context)
        {
            foreach (var item in context.Message.Replies)
            {
                log.Add(item.SagaId, new Received(item.Reply!, item.MessageId, item.CorrelationId, null));
            }

            return Task.CompletedTask;
        }

        public Task Consume(ConsumeContext<StepSucceeded> context) => Record(context, context.Message.SagaId);

        public Task Consume(ConsumeContext<StepFailed> context) => Record(context, context.Message.SagaId);

        public Task Consume(ConsumeContext<StepCompensated> context) => Record(context, context.Message.SagaId);

        public Task Consume(ConsumeContext<CompensationFailed> context) => Record(context, context.Message.SagaId);

        private Task Record<T>(ConsumeContext<T> context, Guid sagaId)
            where T : class
        {
            log.Add(sagaId, new Received(context.Message, context.MessageId, context.CorrelationId, context.Headers.Get<string>(Endpoints.SagaIdHeader)));
            return Task.CompletedTask;
        }
    }
}
