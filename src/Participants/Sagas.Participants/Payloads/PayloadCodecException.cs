namespace Sagas.Participants.Payloads;

/// <summary>
/// A payload that cannot be turned back into its JSON: an unknown key id, a ciphertext that fails authentication,
/// a missing or altered claim. Never retried into success by waiting; the message goes to its error queue with this
/// reason so nothing is lost and it can be moved back once the configuration is fixed.
/// </summary>
public sealed class PayloadCodecException : Exception
{
    public PayloadCodecException()
    {
    }

    public PayloadCodecException(string message)
        : base(message)
    {
    }

    public PayloadCodecException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
