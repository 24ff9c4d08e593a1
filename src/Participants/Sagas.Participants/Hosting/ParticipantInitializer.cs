using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sagas.Participants.Payloads;

namespace Sagas.Participants;

/// <summary>
/// Creates the participant's schema before the bus starts consuming (hosted services start in registration
/// order, and participants are registered before MassTransit). Waits for the database instead of crashing.
/// </summary>
internal sealed class ParticipantInitializer<TDb>(IServiceProvider services, ILogger<ParticipantInitializer<TDb>> logger) : IHostedService
    where TDb : ParticipantDbContext
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Bad keys fail the start, not the first message.
        services.GetRequiredService<PayloadCodec>();

        // So does a provider the barrier cannot work with: retrying would not make it ready.
        await using (var scope = services.CreateAsyncScope())
        {
            ParticipantDatabase.EnsureSupportedProvider(scope.ServiceProvider.GetRequiredService<TDb>());
        }

        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ParticipantDatabase.InitializeAsync<TDb>(services, cancellationToken);
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Database of {DbContext} not ready (attempt {Attempt}); retrying in {Delay}", typeof(TDb).Name, attempt, delay);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
