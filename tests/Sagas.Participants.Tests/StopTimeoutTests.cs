using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sagas.Participants.Transport;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// Regression (found by the chaos run): with no consumer stop timeout, a receive endpoint whose channel dropped waited
/// for ever for handlers that were themselves waiting on the dropped connection, and the participant never consumed
/// again. The transport registration now bounds that wait for every host; here a handler that never finishes by
/// itself must see its token cancelled when its endpoint stops.
/// </summary>
public sealed class StopTimeoutTests
{
    [Fact]
    public async Task EndpointStops_HandlerStuckInFlight_HandlerIsCancelledAndStopCompletes()
    {
        var probe = new StuckProbe();
        var services = new ServiceCollection().AddLogging().AddSingleton(probe);
        services.AddMassTransit(bus =>
        {
            bus.AddConsumer<StuckConsumer>().Endpoint(e => e.Name = "stuck");
            bus.UseSagasTransport(new TransportOptions
            {
                Kind = TransportKind.InMemory,
                ConsumerStopTimeout = TimeSpan.FromSeconds(1),
                StopTimeout = TimeSpan.FromSeconds(5),
            });
        });
        // Started means started: a stop racing a start still in progress is not what this test is about.
        services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        await using var provider = services.BuildServiceProvider(true);
        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(CancellationToken.None);
        }

        var endpoint = await provider.GetRequiredService<IBus>().GetSendEndpoint(new Uri("queue:stuck"));
        await endpoint.Send(new Stuck());
        await probe.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The host's own token never fires: only the configured consumer stop timeout can free the handler.
        var stopping = Task.WhenAll(hosted.Select(s => s.StopAsync(CancellationToken.None)));
        var cancelled = await probe.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(cancelled);
    }

    [Fact]
    public void UseSagasTransport_ConsumerStopTimeoutLongerThanStopTimeout_RefusedWithTheKeys()
    {
        var services = new ServiceCollection();
        var error = Assert.Throws<ArgumentException>(() => services.AddMassTransit(bus => bus.UseSagasTransport(new TransportOptions
        {
            ConsumerStopTimeout = TimeSpan.FromSeconds(30),
            StopTimeout = TimeSpan.FromSeconds(10),
        })));

        Assert.Contains("ConsumerStopTimeout", error.Message);
        Assert.Contains("StopTimeout", error.Message);
    }

    public sealed record Stuck;

    public sealed class StuckProbe
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<bool> Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public sealed class StuckConsumer(StuckProbe probe) : IConsumer<Stuck>
    {
        public async Task Consume(ConsumeContext<Stuck> context)
        {
            probe.Started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                probe.Cancelled.TrySetResult(true);
                throw;
            }
        }
    }
}
