using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Hosting;
using Xunit;

namespace Sagas.Tests.Unit.Messaging;

/// <summary>How the coordinator reads its command batch sizes from configuration, and what it refuses.</summary>
public sealed class CommandBatchOptionsTests
{
    [Fact]
    public void Options_SizePerParticipant_ReadByNameWhateverItsCase()
    {
        var options = Resolve(new() { ["Sagas:CommandBatchSize"] = "16", ["Sagas:ParticipantCommandBatchSize:Payments"] = "1" });

        Assert.Equal(16, options.CommandBatchSize);
        Assert.Equal(1, options.ParticipantCommandBatchSize["payments"]);
        Assert.False(options.ParticipantCommandBatchSize.ContainsKey("inventory"));
    }

    [Theory]
    [InlineData("Sagas:CommandBatchSize", "0", "Sagas:CommandBatchSize must be 1 or more")]
    [InlineData("Sagas:ParticipantCommandBatchSize:payments", "0", "Sagas:ParticipantCommandBatchSize: every participant's size must be 1 or more")]
    public void Options_SizeBelowOne_RefusedWithTheSettingNamed(string key, string value, string expected)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve(new() { [key] = value }));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private static SagasOptions Resolve(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddSagasPersistence();
        using var services = builder.Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<SagasOptions>>().Value;
    }
}
