using System.Security.Cryptography;
using System.Text.Json;
using Sagas.Participants.Payloads;

namespace Sagas.Tests.Unit.Payloads;

public sealed class PayloadCipherTests
{
    private const string Marker = "4111-1111-1111-1111";

    internal static PayloadKey NewKey(string id) => new() { Id = id, Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) };

    internal static PayloadCipher Cipher(params PayloadKey[] keys) =>
        PayloadCipher.FromOptions(new EncryptionOptions { Keys = [.. keys] })!;

    [Fact]
    public void Encrypt_ObjectPayload_RoundTripsAndHidesThePlaintext()
    {
        var cipher = Cipher(NewKey("k1"));
        var plain = JsonSerializer.SerializeToElement(new { card = Marker, amount = 12.5m, nested = new { list = new[] { 1, 2, 3 } } });

        var envelope = cipher.Encrypt(plain);

        Assert.DoesNotContain(Marker, envelope.GetRawText(), StringComparison.Ordinal);
        Assert.Equal("k1", envelope.GetProperty("$enc").GetProperty("kid").GetString());
        Assert.True(JsonElement.DeepEquals(plain, cipher.Decrypt(envelope)));
    }

    [Fact]
    public void Encrypt_SamePayloadTwice_GivesDifferentCiphertexts()
    {
        var cipher = Cipher(NewKey("k1"));

        Assert.NotEqual(cipher.EncryptText("{\"a\":1}"), cipher.EncryptText("{\"a\":1}"));
    }

    [Fact]
    public void Decrypt_AfterRotation_OldKeyDecryptsAndNewestEncrypts()
    {
        var k1 = NewKey("k1");
        var before = Cipher(k1);
        var old = before.EncryptText($$"""{"card":"{{Marker}}"}""");

        var after = Cipher(k1, NewKey("k2"));

        Assert.Equal($$"""{"card":"{{Marker}}"}""", after.DecryptText(old));
        Assert.Equal("k2", after.ActiveKeyId);
        Assert.Contains("\"kid\":\"k2\"", after.EncryptText("{}"), StringComparison.Ordinal);
    }

    [Fact]
    public void FromOptions_ActiveKeyIdGiven_ThatKeyEncrypts()
    {
        var cipher = PayloadCipher.FromOptions(new EncryptionOptions { Keys = [NewKey("k1"), NewKey("k2")], ActiveKeyId = "k1" })!;

        Assert.Equal("k1", cipher.ActiveKeyId);
    }

    [Fact]
    public void Decrypt_UnknownKeyId_ThrowsNamingTheKey()
    {
        var envelope = Cipher(NewKey("gone")).EncryptText("{}");

        var error = Assert.Throws<PayloadCodecException>(() => Cipher(NewKey("k1")).DecryptText(envelope));

        Assert.Contains("'gone'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decrypt_TamperedCiphertext_ThrowsAuthenticationFailure()
    {
        var cipher = Cipher(NewKey("k1"));
        var envelope = JsonDocument.Parse(cipher.EncryptText("{\"amount\":100}")).RootElement.GetProperty("$enc");
        var bytes = envelope.GetProperty("ct").GetBytesFromBase64();
        bytes[0] ^= 1;
        var tampered = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["$enc"] = new { kid = "k1", nonce = envelope.GetProperty("nonce").GetString(), tag = envelope.GetProperty("tag").GetString(), ct = Convert.ToBase64String(bytes) },
        });

        var error = Assert.Throws<PayloadCodecException>(() => cipher.DecryptText(tampered));

        Assert.Contains("failed authentication", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decrypt_RelabelledKeyId_ThrowsAuthenticationFailure()
    {
        var k1 = NewKey("k1");
        var k2 = new PayloadKey { Id = "k2", Key = k1.Key };
        var cipher = Cipher(k1, k2);
        var relabelled = cipher.EncryptText("{}").Replace("\"kid\":\"k2\"", "\"kid\":\"k1\"", StringComparison.Ordinal);

        Assert.Throws<PayloadCodecException>(() => cipher.DecryptText(relabelled));
    }

    [Fact]
    public void Decrypt_MalformedEnvelope_ThrowsClearError()
    {
        var error = Assert.Throws<PayloadCodecException>(() => Cipher(NewKey("k1")).DecryptText("{\"$enc\":{\"kid\":\"k1\"}}"));

        Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecryptText_PlainJson_ComesBackUnchanged()
    {
        Assert.Equal("{\"a\":1}", Cipher(NewKey("k1")).DecryptText("{\"a\":1}"));
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("AAAA")]
    public void FromOptions_BadKey_ThrowsAtStart(string key)
    {
        Assert.Throws<InvalidOperationException>(() => PayloadCipher.FromOptions(new EncryptionOptions { Keys = [new PayloadKey { Id = "k1", Key = key }] }));
    }

    [Fact]
    public void FromOptions_ActiveKeyIdNotListed_ThrowsAtStart()
    {
        Assert.Throws<InvalidOperationException>(() => PayloadCipher.FromOptions(new EncryptionOptions { Keys = [NewKey("k1")], ActiveKeyId = "k9" }));
    }

    [Fact]
    public void FromOptions_NoKeys_IsOff()
    {
        Assert.Null(PayloadCipher.FromOptions(new EncryptionOptions()));
    }
}
