using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sagas.Participants;
using Sagas.Samples;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// The reply and batch options from configuration. Regression (found by the chaos run): the reply-twice test hook could not be
/// switched on from configuration.
/// </summary>
public sealed class ReplyOptionsBindingTests
{
    [Fact]
    public void ReplyOptions_FromConfiguration_SendEveryReplyTwiceIsBound()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Sagas:Participants:Reply:SendEveryReplyTwice"] = "true" })
            .Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddSampleParticipants(SamplesOptions.ForSqlite(Path.GetTempPath()));

        using var provider = services.BuildServiceProvider();

        Assert.True(provider.GetRequiredService<IOptions<ParticipantReplyOptions>>().Value.SendEveryReplyTwice);
    }

    [Theory]
    [InlineData("00:00:00.005", 5)]
    [InlineData("00:00:00", 0)]
    public void ReplyOptions_BatchWaitFromConfiguration_IsBound(string value, int milliseconds)
    {
        using var provider = Build(new() { ["Sagas:Participants:Reply:BatchWait"] = value });

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), provider.GetRequiredService<IOptions<ParticipantReplyOptions>>().Value.BatchWait);
    }

    [Theory]
    [InlineData("-00:00:00.001")]
    [InlineData("00:00:02")]
    public void ReplyOptions_BatchWaitOutOfRange_RefusedNamingTheSetting(string value)
    {
        using var provider = Build(new() { ["Sagas:Participants:Reply:BatchWait"] = value });

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ParticipantReplyOptions>>().Value);
        Assert.Contains("Sagas:Participants:Reply:BatchWait", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, 16)]
    [InlineData("1", 1)]
    [InlineData("64", 64)]
    public void BatchOptions_MaxPerTransactionFromConfiguration_IsBound(string? value, int expected)
    {
        using var provider = Build(value is null ? [] : new() { ["Sagas:Participants:Batch:MaxPerTransaction"] = value });

        Assert.Equal(expected, provider.GetRequiredService<IOptions<ParticipantBatchOptions>>().Value.MaxPerTransaction);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65")]
    public void BatchOptions_MaxPerTransactionOutOfRange_RefusedNamingTheSetting(string value)
    {
        using var provider = Build(new() { ["Sagas:Participants:Batch:MaxPerTransaction"] = value });

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ParticipantBatchOptions>>().Value);
        Assert.Contains("Sagas:Participants:Batch:MaxPerTransaction", error.Message, StringComparison.Ordinal);
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddSampleParticipants(SamplesOptions.ForSqlite(Path.GetTempPath()));
        return services.BuildServiceProvider();
    }
}
