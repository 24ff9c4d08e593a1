using System.Net;
using System.Text;
using RabbitMQ.Client;
using Sagas.Contracts.Definitions;
using Sagas.Tests.Integration.Infrastructure;
using Xunit;

namespace Sagas.Tests.Integration.Scenarios;

/// <summary>
/// Regression (found by the long chaos run): every timed-out attempt sent another copy of its command, and a
/// participant that fell behind worked through copies nobody waited for while each new attempt timed out behind
/// them; its queue grew past 100,000 messages. A command now lives in its queue only until the coordinator stops
/// waiting for it (RabbitMQ per-message TTL from the step's timeout).
/// </summary>
public sealed class CommandExpiryScenarios(DistributedBackend backend) : IClassFixture<DistributedBackend>, IAsyncLifetime
{
    private RawBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await RawBroker.ConnectAsync(backend.BrokerUri!);

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task ParticipantNeverConsumes_AttemptsTimeOut_TheirCommandsLeaveTheQueue()
    {
        // A participant queue nobody consumes: every attempt and every compensation attempt times out.
        var participant = "absent-" + Guid.NewGuid().ToString("N")[..8];
        var definition = SagaDefinitionBuilder.Create("expiry-" + Guid.NewGuid().ToString("N")[..8])
            .Step("only", s => s.On(participant).Action("act").Compensation("undo")
                .Timeout(TimeSpan.FromSeconds(1)).Retry(2, TimeSpan.FromMilliseconds(100))
                .CompensationTimeout(TimeSpan.FromSeconds(1)).CompensationRetry(2, TimeSpan.FromMilliseconds(100)))
            .Build();
        using (var registered = await backend.Client.PostAsync(new Uri("/api/definitions", UriKind.Relative),
            new StringContent(DefinitionJson.Write(definition), Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, registered.StatusCode);
        }

        if (backend.UsesQuorumQueues)
        {
            // With quorum queues commands go to the participant's exchange; only its own endpoint would declare the
            // queue behind it, so stand in for it (same shape: a fanout exchange into a quorum queue of the same name).
            await using var channel = await _broker.Connection.CreateChannelAsync();
            await channel.ExchangeDeclareAsync(participant, ExchangeType.Fanout, durable: true);
            await channel.QueueDeclareAsync(participant, durable: true, exclusive: false, autoDelete: false,
                arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
            await channel.QueueBindAsync(participant, participant, "");
        }

        var id = await backend.StartAsync(definition.Name, await backend.NewOrderAsync());
        await backend.WaitForStateAsync(id, "Failed", TimeSpan.FromSeconds(60));

        // Four commands were sent (two attempts, two compensation attempts), each with a one-second lifetime.
        var history = await backend.GetHistoryAsync(id);
        Assert.Equal(2, history.Count(h => h.Type == "StepCommandSent"));
        Assert.Equal(2, history.Count(h => h.Type == "CompensationCommandSent"));
        var left = await _broker.CountAsync(participant);
        for (var waited = 0; left != 0 && waited < 150; waited++)
        {
            await Task.Delay(200);
            left = await _broker.CountAsync(participant);
        }

        Assert.Equal(0, left);
    }
}
