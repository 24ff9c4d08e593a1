using Sagas.Coordinator.Persistence;

namespace Sagas.Tests.Unit.Persistence;

/// <summary>The group commit's wait for company, as configured: refused out of range, rounded up to the timer's millisecond.</summary>
public class BatchWaitOptionsTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(1_001)]
    public void SagasDbFactory_BatchWaitOutOfRange_RefusedNamingTheSetting(int milliseconds)
    {
        var options = new DatabaseOptions { BatchWait = TimeSpan.FromMilliseconds(milliseconds) };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SagasDbFactory(options, "Data Source=:memory:"));

        Assert.Contains("Sagas:Database:BatchWait", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SagasDbFactory_BatchWaitUnderAMillisecond_RoundedUp()
    {
        var options = new DatabaseOptions { BatchWait = TimeSpan.FromMicroseconds(300) };

        Assert.Equal(TimeSpan.FromMilliseconds(1), new SagasDbFactory(options, "Data Source=:memory:").BatchWait);
    }
}
