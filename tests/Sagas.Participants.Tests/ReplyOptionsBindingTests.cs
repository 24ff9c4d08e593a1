using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sagas.Participants;
using Sagas.Samples;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>Regression (found by the chaos run): the reply-twice test hook could not be switched on from configuration.</summary>
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
}
