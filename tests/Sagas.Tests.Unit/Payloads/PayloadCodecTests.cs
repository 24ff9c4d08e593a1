using System.Collections.Concurrent;
using System.Text.Json;
using Sagas.Contracts;
using Sagas.Participants.Payloads;

namespace Sagas.Tests.Unit.Payloads;

public sealed class PayloadCodecTests
{
    private static readonly Guid SagaId = Guid.NewGuid();

    private static JsonElement Large(int bytes) =>
        JsonSerializer.SerializeToElement(new { blob = new string('x', bytes), card = "4111-1111-1111-1111" });

    [Fact]
    public async Task Encode_Off_ReturnsThePayloadUnchanged()
    {
        var payload = Large(100);

        var encoded = await PayloadCodec.Off.EncodeAsync(SagaId, payload, default);

        Assert.Equal(payload.GetRawText(), encoded.GetRawText());
    }

    [Fact]
    public async Task Encode_OverThreshold_StoresOneClaimAndDecodesBack()
    {
        var store = new MemoryClaimStore();
        var codec = new PayloadCodec(null, 1024, () => store);
        var payload = Large(10_000);

        var encoded = await codec.EncodeAsync(SagaId, payload, default);
        await codec.EncodeAsync(SagaId, payload, default);

        Assert.True(PayloadClaim.IsReference(encoded));
        Assert.True(encoded.GetRawText().Length < 300);
        Assert.Single(store.Claims);
        Assert.True(JsonElement.DeepEquals(payload, await codec.DecodeAsync(encoded, default)));
    }

    [Fact]
    public async Task Encode_UnderThreshold_TravelsInline()
    {
        var codec = new PayloadCodec(null, 1024, () => new MemoryClaimStore());

        var encoded = await codec.EncodeAsync(SagaId, Large(10), default);

        Assert.False(PayloadCodec.IsEncoded(encoded));
    }

    [Fact]
    public async Task Encode_EncryptedAndLarge_ClaimHoldsOnlyCiphertext()
    {
        var store = new MemoryClaimStore();
        var codec = new PayloadCodec(PayloadCipherTests.Cipher(PayloadCipherTests.NewKey("k1")), 1024, () => store);
        var payload = Large(10_000);

        var encoded = await codec.EncodeAsync(SagaId, payload, default);

        var body = Assert.Single(store.Claims).Value;
        Assert.DoesNotContain("4111", body, StringComparison.Ordinal);
        Assert.True(JsonElement.DeepEquals(payload, await codec.DecodeAsync(encoded, default)));
    }

    [Fact]
    public async Task Decode_MissingClaim_ThrowsNamingTheClaim()
    {
        var codec = new PayloadCodec(null, 1024, () => new MemoryClaimStore());
        var reference = PayloadClaim.For(SagaId, "{}").Reference();

        var error = await Assert.ThrowsAsync<PayloadCodecException>(async () => await codec.DecodeAsync(reference, default));

        Assert.Contains("not in the claim store", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_AlteredClaim_ThrowsMismatch()
    {
        var store = new MemoryClaimStore();
        var codec = new PayloadCodec(null, 1024, () => store);
        var encoded = await codec.EncodeAsync(SagaId, Large(5000), default);
        var id = store.Claims.Keys.Single();
        store.Claims[id] = store.Claims[id].Replace("4111", "5111", StringComparison.Ordinal);

        var error = await Assert.ThrowsAsync<PayloadCodecException>(async () => await codec.DecodeAsync(encoded, default));

        Assert.Contains("does not match", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_EncryptedPayloadWithoutKeys_ThrowsClearError()
    {
        var envelope = PayloadCipherTests.Cipher(PayloadCipherTests.NewKey("k1")).Encrypt(Large(10));

        var error = await Assert.ThrowsAsync<PayloadCodecException>(async () => await PayloadCodec.Off.DecodeAsync(envelope, default));

        Assert.Contains("no keys", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EncodeReply_StepSucceeded_EncryptsOnlyTheOutput()
    {
        var codec = new PayloadCodec(PayloadCipherTests.Cipher(PayloadCipherTests.NewKey("k1")), 0, null);
        var reply = new StepSucceeded(SagaId, "charge", 1, JsonSerializer.SerializeToElement(new { receipt = "r-1" }));

        var encoded = (StepSucceeded)await codec.EncodeReplyAsync(reply, default);

        Assert.True(PayloadCipher.IsEnvelope(encoded.Output!.Value));
        Assert.Equal("charge", encoded.Step);
        Assert.Same(reply, await PayloadCodec.Off.EncodeReplyAsync(reply, default));
    }

    [Fact]
    public async Task DecodeExecuteStep_PlainData_ReturnsTheSameMessage()
    {
        var message = new ExecuteStep(SagaId, "order", 1, "charge", "Charge", 1, Large(10));

        Assert.Same(message, await PayloadCodec.Off.DecodeAsync(message, default));
    }

    private sealed class MemoryClaimStore : IClaimStore
    {
        public ConcurrentDictionary<string, string> Claims { get; } = new();

        public Task<string?> ReadAsync(string id, CancellationToken cancellationToken) =>
            Task.FromResult(Claims.TryGetValue(id, out var body) ? body : null);

        public Task WriteAsync(PayloadClaim claim, CancellationToken cancellationToken)
        {
            Claims.TryAdd(claim.Id, claim.Body);
            return Task.CompletedTask;
        }
    }
}
