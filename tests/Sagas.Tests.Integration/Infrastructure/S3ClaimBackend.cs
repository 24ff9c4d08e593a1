using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>
/// PostgreSQL + RabbitMQ with large payloads claim-checked into an S3-compatible bucket (s3rver from
/// scripts/services.sh, named by <see cref="Variable"/> as <c>http://host:port/bucket</c>), under a prefix of its own.
/// </summary>
public sealed class S3ClaimBackend : DistributedBackend
{
    public const string Variable = "SAGAS_TEST_S3";
    public const int ClaimThresholdBytes = 64 * 1024;

    private static readonly Uri? Endpoint = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? new Uri(value) : null;

    public override string Name => "PostgreSQL + RabbitMQ, claims in an S3-compatible bucket";

    public static bool Available => Endpoint is not null;

    public string Prefix { get; } = $"integration/{Guid.NewGuid():N}/";

    private static string ServiceUrl => Endpoint!.GetLeftPart(UriPartial.Authority);

    private static string Bucket => Endpoint!.AbsolutePath.Trim('/');

    /// <summary>The keys and sizes of the claim objects this backend wrote.</summary>
    public async Task<List<(string Key, long Size)>> ClaimObjectsAsync()
    {
        using var client = S3Client();
        var response = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, Prefix = Prefix });
        return (response.S3Objects ?? []).Select(o => (o.Key, o.Size ?? 0)).ToList();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();

        // The bucket outlives the run: leave nothing of this one in it.
        using var client = S3Client();
        foreach (var (key, _) in await ClaimObjectsAsync())
        {
            await client.DeleteObjectAsync(Bucket, key);
        }
    }

    private static AmazonS3Client S3Client() => new(
        new BasicAWSCredentials("S3RVER", "S3RVER"),
        new AmazonS3Config { ServiceURL = ServiceUrl, AuthenticationRegion = "us-east-1", ForcePathStyle = true });

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var settings = await base.SettingsAsync();
        settings["Sagas:Payloads:ClaimCheck:ThresholdBytes"] = ClaimThresholdBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Sagas:Payloads:ClaimCheck:Store"] = "S3";
        settings["Sagas:Payloads:ClaimCheck:S3:ServiceUrl"] = ServiceUrl;
        settings["Sagas:Payloads:ClaimCheck:S3:BucketName"] = Bucket;
        settings["Sagas:Payloads:ClaimCheck:S3:Prefix"] = Prefix;
        settings["Sagas:Payloads:ClaimCheck:S3:Region"] = "us-east-1";
        settings["Sagas:Payloads:ClaimCheck:S3:AccessKey"] = "S3RVER";
        settings["Sagas:Payloads:ClaimCheck:S3:SecretKey"] = "S3RVER";
        settings["Sagas:MaxDataBytes"] = (2 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Sagas:MaxRequestBytes"] = (4 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }
}
