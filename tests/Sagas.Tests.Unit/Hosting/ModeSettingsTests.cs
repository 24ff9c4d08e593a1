using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Sagas.Coordinator.Hosting;
using Xunit;

namespace Sagas.Tests.Unit.Hosting;

/// <summary>
/// <c>Sagas:Mode=Distributed</c> does not choose the transport: left at the in-memory one, with no participants in the
/// process, no command could ever reach a participant, so the start is refused with the settings to change.
/// </summary>
public sealed class ModeSettingsTests
{
    [Fact]
    public void Distributed_WithTheInMemoryTransport_IsRefusedNamingTheSettings()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Build(new() { ["Sagas:Mode"] = "Distributed", ["Sagas:Transport:Kind"] = "InMemory" }));

        Assert.Contains("Sagas:Mode is Distributed", error.Message, StringComparison.Ordinal);
        Assert.Contains("Sagas:Transport:Kind", error.Message, StringComparison.Ordinal);
        Assert.Contains("Sagas:Transport:RabbitMqUri", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Distributed", "RabbitMq", null)]
    [InlineData("Distributed", "InMemory", "true")]
    [InlineData("Embedded", "InMemory", null)]
    [InlineData("Embedded", "InMemory", "false")]
    public void TransportThatCanReachTheParticipants_IsAccepted(string mode, string transport, string? hostSamples)
    {
        var error = Record.Exception(() => Build(new()
        {
            ["Sagas:Mode"] = mode,
            ["Sagas:Transport:Kind"] = transport,
            ["Sagas:Transport:RabbitMqUri"] = "amqp://guest:guest@127.0.0.1:5672/",
            ["Sagas:HostSampleParticipants"] = hostSamples,
        }));

        Assert.Null(error);
    }

    private static HostApplicationBuilder Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddSagasMessaging();
        return builder;
    }
}
