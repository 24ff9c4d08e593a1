using System.Collections.Concurrent;
using System.IO.Compression;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Sagas.Tests.Integration.Infrastructure;

/// <summary>A span as exported over OTLP by another process: ids in lower-case hex, string and integer attributes.</summary>
public sealed record ReceivedSpan(string Service, string Scope, string TraceId, string SpanId, string ParentSpanId, string Name, IReadOnlyDictionary<string, object> Attributes)
{
    public string? Attribute(string key) => Attributes.TryGetValue(key, out var value) ? value.ToString() : null;
}

/// <summary>
/// An OTLP/HTTP collector in the test process (<c>POST /v1/traces</c>, protobuf): the coordinator and participant
/// processes export to it, and a test reads back what each sent. Metrics and logs are accepted and dropped.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();

    private OtlpReceiver(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>The base address to configure as <c>Sagas:Telemetry:Otlp:Endpoint</c> with protocol <c>HttpProtobuf</c>.</summary>
    public Uri Endpoint { get; }

    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var port = BuildOutput.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, new Uri($"http://127.0.0.1:{port}"));
        app.MapPost("/v1/traces", receiver.ReceiveTracesAsync);
        app.MapPost("/v1/metrics", () => Results.Bytes([], "application/x-protobuf"));
        app.MapPost("/v1/logs", () => Results.Bytes([], "application/x-protobuf"));
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private async Task<IResult> ReceiveTracesAsync(HttpRequest request)
    {
        using var body = new MemoryStream();
        var source = request.Headers.ContentEncoding.ToString() == "gzip" ? new GZipStream(request.Body, CompressionMode.Decompress) : request.Body;
        await source.CopyToAsync(body);
        foreach (var span in OtlpTraceDecoder.Decode(body.ToArray()))
        {
            _spans.Enqueue(span);
        }

        // An empty ExportTraceServiceResponse: everything accepted.
        return Results.Bytes([], "application/x-protobuf");
    }
}

/// <summary>
/// Just enough of the protobuf wire format to read an <c>ExportTraceServiceRequest</c>: resource spans (the
/// resource's <c>service.name</c>), scope spans (the scope name) and spans (ids, name, attributes).
/// </summary>
public static class OtlpTraceDecoder
{
    public static List<ReceivedSpan> Decode(ReadOnlySpan<byte> request)
    {
        var spans = new List<ReceivedSpan>();
        var reader = new ProtoReader(request);
        while (reader.Next(out var field, out var value))
        {
            if (field == 1)
            {
                DecodeResourceSpans(value.Bytes, spans);
            }
        }

        return spans;
    }

    private static void DecodeResourceSpans(ReadOnlySpan<byte> bytes, List<ReceivedSpan> spans)
    {
        var service = "";
        var scopes = new List<byte[]>();
        var reader = new ProtoReader(bytes);
        while (reader.Next(out var field, out var value))
        {
            switch (field)
            {
                case 1:
                    // Resource: attributes = 1.
                    var resource = new ProtoReader(value.Bytes);
                    while (resource.Next(out var f, out var v))
                    {
                        if (f == 1 && DecodeKeyValue(v.Bytes) is ("service.name", string name))
                        {
                            service = name;
                        }
                    }

                    break;
                case 2:
                    scopes.Add(value.Bytes.ToArray());
                    break;
            }
        }

        foreach (var scope in scopes)
        {
            DecodeScopeSpans(scope, service, spans);
        }
    }

    private static void DecodeScopeSpans(ReadOnlySpan<byte> bytes, string service, List<ReceivedSpan> spans)
    {
        var scopeName = "";
        var raw = new List<byte[]>();
        var reader = new ProtoReader(bytes);
        while (reader.Next(out var field, out var value))
        {
            if (field == 1)
            {
                var scope = new ProtoReader(value.Bytes);
                while (scope.Next(out var f, out var v))
                {
                    if (f == 1)
                    {
                        scopeName = v.String;
                    }
                }
            }
            else if (field == 2)
            {
                raw.Add(value.Bytes.ToArray());
            }
        }

        foreach (var span in raw)
        {
            spans.Add(DecodeSpan(span, service, scopeName));
        }
    }

    private static ReceivedSpan DecodeSpan(ReadOnlySpan<byte> bytes, string service, string scope)
    {
        string traceId = "", spanId = "", parent = "", name = "";
        var attributes = new Dictionary<string, object>();
        var reader = new ProtoReader(bytes);
        while (reader.Next(out var field, out var value))
        {
            switch (field)
            {
                case 1: traceId = Convert.ToHexStringLower(value.Bytes); break;
                case 2: spanId = Convert.ToHexStringLower(value.Bytes); break;
                case 4: parent = Convert.ToHexStringLower(value.Bytes); break;
                case 5: name = value.String; break;
                case 9:
                    if (DecodeKeyValue(value.Bytes) is ({ } key, { } attribute))
                    {
                        attributes[key] = attribute;
                    }

                    break;
            }
        }

        return new ReceivedSpan(service, scope, traceId, spanId, parent, name, attributes);
    }

    /// <summary>KeyValue { key = 1; AnyValue value = 2 } with AnyValue's string (1), bool (2) or int (3) case.</summary>
    private static (string? Key, object? Value) DecodeKeyValue(ReadOnlySpan<byte> bytes)
    {
        string? key = null;
        object? result = null;
        var reader = new ProtoReader(bytes);
        while (reader.Next(out var field, out var value))
        {
            if (field == 1)
            {
                key = value.String;
            }
            else if (field == 2)
            {
                var any = new ProtoReader(value.Bytes);
                while (any.Next(out var f, out var v))
                {
                    result = f switch
                    {
                        1 => v.String,
                        2 => v.Varint != 0,
                        3 => (long)v.Varint,
                        _ => result,
                    };
                }
            }
        }

        return (key, result);
    }

    /// <summary>One field's value: the bytes of a length-delimited field, or the number of a varint.</summary>
    private readonly ref struct ProtoValue(ReadOnlySpan<byte> bytes, ulong varint)
    {
        public ReadOnlySpan<byte> Bytes { get; } = bytes;

        public ulong Varint { get; } = varint;

        public string String => System.Text.Encoding.UTF8.GetString(Bytes);
    }

    private ref struct ProtoReader(ReadOnlySpan<byte> buffer)
    {
        private readonly ReadOnlySpan<byte> _buffer = buffer;
        private int _position;

        public bool Next(out int field, out ProtoValue value)
        {
            if (_position >= _buffer.Length)
            {
                field = 0;
                value = default;
                return false;
            }

            var tag = ReadVarint();
            field = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0:
                    value = new ProtoValue([], ReadVarint());
                    break;
                case 1:
                    value = new ProtoValue(_buffer.Slice(_position, 8), 0);
                    _position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint();
                    value = new ProtoValue(_buffer.Slice(_position, length), 0);
                    _position += length;
                    break;
                case 5:
                    value = new ProtoValue(_buffer.Slice(_position, 4), 0);
                    _position += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {tag & 7} at byte {_position}");
            }

            return true;
        }

        private ulong ReadVarint()
        {
            ulong result = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = _buffer[_position++];
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return result;
                }
            }
        }
    }
}
