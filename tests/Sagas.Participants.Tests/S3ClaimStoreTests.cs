using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Sagas.Participants.Payloads;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>
/// The S3 claim store against an S3-compatible server (scripts/services.sh runs s3rver; <see cref="Variable"/> names
/// its endpoint and bucket): claims round-trip byte for byte under their prefix, a missing one reads as absent, a
/// rewrite is harmless, and a large payload goes through the codec and back.
/// </summary>
public sealed class S3ClaimStoreTests : IAsyncLifetime
{
    /// <summary><c>http://host:port/bucket</c>; s3rver's fixed key pair is used.</summary>
    public const string Variable = "SAGAS_TEST_S3";

    private readonly string _prefix = $"participants-tests/{Guid.NewGuid():N}/";
    private readonly S3ClaimStore? _store;

    public S3ClaimStoreTests()
    {
        if (Options(_prefix) is { } options)
        {
            _store = new S3ClaimStore(options);
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            // The bucket outlives the run: leave nothing of this test in it.
            using var client = Client(Options(_prefix)!);
            foreach (var item in await ListAsync())
            {
                await client.DeleteObjectAsync(item.BucketName, item.Key);
            }

            _store.Dispose();
        }
    }

    /// <summary>The store's settings for the test server, or null when <see cref="Variable"/> is not set.</summary>
    public static S3ClaimOptions? Options(string prefix, string? bucket = null)
    {
        var value = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var uri = new Uri(value);
        return new S3ClaimOptions
        {
            ServiceUrl = uri.GetLeftPart(UriPartial.Authority),
            BucketName = bucket ?? uri.AbsolutePath.Trim('/'),
            Prefix = prefix,
            Region = "us-east-1",
            AccessKey = "S3RVER",
            SecretKey = "S3RVER",
        };
    }

    [SkippableFact]
    public async Task Claim_WrittenUnderItsPrefix_ReadsBackByteForByte()
    {
        Skip.If(_store is null, Variable + " not set");
        var body = JsonSerializer.Serialize(new { note = "größer – 大きい – ✓", blob = new string('x', 300_000) });
        var claim = PayloadClaim.For(Guid.NewGuid(), body);

        await _store.WriteAsync(claim, default);

        Assert.Equal(body, await _store.ReadAsync(claim.Id, default));
        var listed = await ListAsync();
        var only = Assert.Single(listed);
        Assert.Equal(_prefix + claim.Id, only.Key);
        Assert.Equal(Encoding.UTF8.GetByteCount(body), only.Size);
    }

    [SkippableFact]
    public async Task MissingClaim_ReadsAsNull_AndARewriteChangesNothing()
    {
        Skip.If(_store is null, Variable + " not set");
        Assert.Null(await _store.ReadAsync("no-such-claim", default));

        var claim = PayloadClaim.For(Guid.NewGuid(), "{\"a\":1}");
        await _store.WriteAsync(claim, default);
        await _store.WriteAsync(claim, default);

        Assert.Equal("{\"a\":1}", await _store.ReadAsync(claim.Id, default));
        Assert.Single(await ListAsync());
    }

    [SkippableFact]
    public async Task UnknownBucket_WriteFailsWithTheServicesError()
    {
        Skip.If(_store is null, Variable + " not set");
        using var store = new S3ClaimStore(Options(_prefix, "no-such-bucket-" + Guid.NewGuid().ToString("N")[..8])!);

        var error = await Assert.ThrowsAsync<AmazonS3Exception>(() => store.WriteAsync(PayloadClaim.For(Guid.NewGuid(), "{}"), default));

        Assert.Equal("NoSuchBucket", error.ErrorCode);
    }

    [SkippableFact]
    public async Task LargePayload_ThroughTheCodec_TravelsAsAReferenceAndDecodesToTheOriginal()
    {
        Skip.If(_store is null, Variable + " not set");
        var codec = new PayloadCodec(null, 1024, () => _store);
        var payload = JsonSerializer.SerializeToElement(new { orderId = "o-1", lines = Enumerable.Range(0, 500).Select(i => new { sku = $"sku-{i}", quantity = i }) });

        var encoded = await codec.EncodeAsync(Guid.NewGuid(), payload, default);

        Assert.True(PayloadClaim.IsReference(encoded));
        Assert.True(encoded.GetRawText().Length < 1024, encoded.GetRawText());
        Assert.Single(await ListAsync());
        Assert.Equal(payload.GetRawText(), (await codec.DecodeAsync(encoded, default)).GetRawText());
    }

    private async Task<List<S3Object>> ListAsync()
    {
        var options = Options(_prefix)!;
        using var client = Client(options);
        var response = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = options.BucketName, Prefix = _prefix });
        return response.S3Objects ?? [];
    }

    private static AmazonS3Client Client(S3ClaimOptions options) => new(
        new BasicAWSCredentials(options.AccessKey, options.SecretKey),
        new AmazonS3Config { ServiceURL = options.ServiceUrl, AuthenticationRegion = options.Region, ForcePathStyle = true });
}
