using Sagas.Participants.Payloads;

namespace Sagas.Tests.Unit.Payloads;

/// <summary>Which claim store the settings pick. The S3 store itself is not exercised: no S3 service runs here.</summary>
public sealed class ClaimStoreSelectionTests
{
    [Fact]
    public void CreateStore_NothingConfigured_LeavesItToTheCoordinatorDatabase()
    {
        Assert.Null(PayloadRegistration.CreateStore(new ClaimCheckOptions { ThresholdBytes = 1024 }));
    }

    [Fact]
    public void CreateStore_ConnectionString_SqlStore()
    {
        Assert.IsType<SqlClaimStore>(PayloadRegistration.CreateStore(new ClaimCheckOptions { Provider = "Sqlite", ConnectionString = "Data Source=x.db" }));
    }

    [Fact]
    public void CreateStore_S3WithBucket_S3Store()
    {
        var options = new ClaimCheckOptions
        {
            Store = ClaimStoreKind.S3,
            S3 = new S3ClaimOptions { BucketName = "claims", ServiceUrl = "http://127.0.0.1:9000", Region = "us-east-1", AccessKey = "a", SecretKey = "b" },
        };

        using var store = Assert.IsType<S3ClaimStore>(PayloadRegistration.CreateStore(options));
    }

    [Fact]
    public void CreateStore_S3WithoutBucket_ThrowsNamingTheSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => PayloadRegistration.CreateStore(new ClaimCheckOptions { Store = ClaimStoreKind.S3 }));

        Assert.Contains("S3:BucketName", error.Message, StringComparison.Ordinal);
    }
}
