using System.Reflection;
using System.Text.RegularExpressions;
using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Persistence;
using Sagas.Coordinator.Retention;
using Sagas.Coordinator.Telemetry;
using Sagas.Participants;
using Sagas.Participants.Transport;
using Sagas.Samples;
using Sagas.Samples.Shipping;
using YamlDotNet.RepresentationModel;

namespace Sagas.Tests.Unit.Deployment;

/// <summary>
/// docker/compose.yaml cannot be run here (no Docker engine), so its wiring is checked against the code: every
/// environment key is a configuration key the service reads, with a value of the right type; every host it names is
/// a service of the file; dependencies wait for health; ports match the Dockerfiles.
/// </summary>
public sealed partial class ComposeFileTests
{
    private static readonly string Docker = Path.Combine(RepositoryRoot(), "docker");
    private static readonly YamlMappingNode Services = LoadServices();

    /// <summary>Configuration keys (and their types) the coordinator binds, by section.</summary>
    private static readonly Dictionary<string, Type> CoordinatorKeys = Keys(
        (SagasOptions.Section, typeof(SagasOptions)),
        (DatabaseOptions.Section, typeof(DatabaseOptions)),
        (TransportOptions.Section, typeof(TransportOptions)),
        (TelemetryOptions.Section, typeof(TelemetryOptions)),
        (RetentionOptions.Section, typeof(RetentionOptions)),
        ("ConnectionStrings", typeof(CoordinatorConnectionStrings)));

    /// <summary>The sample participants host: transport, reply and retry settings, the samples' databases and OTLP export.</summary>
    private static readonly Dictionary<string, Type> ParticipantKeys = Keys(
        (TransportOptions.Section, typeof(TransportOptions)),
        (ParticipantReplyOptions.Section, typeof(ParticipantReplyOptions)),
        (SamplesOptions.Section, typeof(SamplesHostSettings)),
        (ShippingOptions.Section, typeof(ShippingOptions)),
        (TelemetryOptions.Section, typeof(ParticipantTelemetrySettings)),
        ("ConnectionStrings", typeof(ParticipantConnectionStrings)));

    private static readonly List<string> Names = [.. Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!)];

    public static TheoryData<string> ServiceNames => [.. Names];

    [Theory]
    [MemberData(nameof(ServiceNames))]
    public void Compose_EveryEnvironmentKeyOfOurServices_IsAKeyTheServiceReadsWithAValidValue(string service)
    {
        var keys = ImageOf(service) switch
        {
            "sagas/coordinator:local" => CoordinatorKeys,
            "sagas/participants:local" => ParticipantKeys,
            _ => null,
        };
        if (keys is null)
        {
            return; // RabbitMQ, SQL Server, PostgreSQL: their images' own variables.
        }

        var environment = Environment(service);
        Assert.NotEmpty(environment);
        foreach (var (variable, value) in environment)
        {
            var key = variable.Replace("__", ":", StringComparison.Ordinal);
            Assert.True(keys.TryGetValue(key, out var type), $"{service}: {variable} is not a configuration key the service reads");
            Assert.True(IsValid(type!, Interpolated(value)), $"{service}: {variable}={value} is not a valid {type!.Name}");
        }
    }

    [Fact]
    public void ComposeCluster_Overrides_NameServicesOfTheBaseFileWithKeysTheyRead()
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Docker, "compose.cluster.yaml"));
        stream.Load(reader);
        var cluster = (YamlMappingNode)((YamlMappingNode)stream.Documents[0].RootNode)["services"];
        var nodes = File.ReadAllText(Path.Combine(Docker, "rabbitmq-cluster.conf"));
        foreach (var (name, node) in cluster.Children)
        {
            var service = ((YamlScalarNode)name).Value!;
            var merged = Merged((YamlMappingNode)node);
            if (merged.Children.TryGetValue(new YamlScalarNode("hostname"), out var hostname))
            {
                Assert.Contains($"rabbit@{((YamlScalarNode)hostname).Value}", nodes, StringComparison.Ordinal);
                continue;
            }

            var keys = ImageOf(service) == "sagas/coordinator:local" ? CoordinatorKeys : ParticipantKeys;
            var environment = (YamlMappingNode)merged["environment"];
            Assert.All(environment.Children, e => Assert.True(
                keys.TryGetValue(((YamlScalarNode)e.Key).Value!.Replace("__", ":", StringComparison.Ordinal), out var type) && IsValid(type, ((YamlScalarNode)e.Value).Value!),
                $"{service}: {e.Key}={e.Value}"));
        }

        Assert.Equal(3, Regex.Count(nodes, @"nodes\.\d = rabbit@"));
    }

    [Fact]
    public void Compose_HostsInConnectionStringsAndBrokerUris_AreServicesWithMatchingPorts()
    {
        var checkedHosts = 0;
        foreach (var service in Names)
        {
            foreach (var (variable, value) in Environment(service))
            {
                foreach (Match match in HostPattern().Matches(value))
                {
                    var host = match.Groups["host"].Value;
                    Assert.True(Services.Children.ContainsKey(new YamlScalarNode(host)), $"{service}: {variable} names host '{host}', which is not a service");
                    var port = match.Groups["port"].Success ? match.Groups["port"].Value : null;
                    if (port is not null)
                    {
                        Assert.Contains(Ports(host), p => p.EndsWith(":" + port, StringComparison.Ordinal));
                    }

                    checkedHosts++;
                }
            }
        }

        Assert.True(checkedHosts >= 5, $"only {checkedHosts} host references found: the pattern no longer matches the file");
    }

    [Fact]
    public void Compose_PostgresDatabasesUsedByParticipants_AreCreatedByTheInitScript()
    {
        var init = File.ReadAllText(Path.Combine(Docker, "postgres-init.sql"));
        var created = CreateDatabase().Matches(init).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var used = Names.SelectMany(s => Environment(s).Values)
            .SelectMany(v => PostgresDatabase().Matches(v).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.Equal(["inventory", "payments", "shipping"], used.Order(StringComparer.Ordinal));
        Assert.Subset(created, used);
    }

    [Fact]
    public void Compose_DependsOn_WaitsForHealthyServicesThatHaveHealthChecksOrForTheMigrationToFinish()
    {
        foreach (var service in Names)
        {
            if (Node(service).Children.TryGetValue(new YamlScalarNode("depends_on"), out var dependsOn))
            {
                foreach (var (name, condition) in ((YamlMappingNode)dependsOn).Children)
                {
                    var dependency = ((YamlScalarNode)name).Value!;
                    var wanted = ((YamlScalarNode)((YamlMappingNode)condition)["condition"]).Value;
                    if (wanted == "service_completed_successfully")
                    {
                        Assert.Equal(["migrate"], Command(dependency));
                        continue;
                    }

                    Assert.Equal("service_healthy", wanted);
                    Assert.True(Node(dependency).Children.ContainsKey(new YamlScalarNode("healthcheck")), $"{service} waits for {dependency} to be healthy, but it has no healthcheck");
                }
            }
        }
    }

    [Fact]
    public void Compose_Coordinator_MigratesInAOneShotServiceNotAtStartUp()
    {
        var coordinators = Names.Where(s => ImageOf(s) == "sagas/coordinator:local").ToList();
        var migrate = Assert.Single(coordinators, s => Command(s) is ["migrate"]);
        var api = Assert.Single(coordinators, s => Command(s) is not ["migrate"]);
        Assert.Equal("false", Environment(api)["Sagas__Database__MigrateOnStart"]);
        Assert.Equal(Environment(api)["ConnectionStrings__Sagas"], Environment(migrate)["ConnectionStrings__Sagas"]);
        Assert.Equal(Environment(api)["Sagas__Database__Provider"], Environment(migrate)["Sagas__Database__Provider"]);
    }

    [Fact]
    public void Compose_ParticipantServices_EachHostOneKnownSampleService()
    {
        var hosted = Names.Where(s => ImageOf(s) == "sagas/participants:local").Select(s => Command(s)).ToList();
        Assert.All(hosted, c => Assert.Equal("--service", c[0]));
        Assert.Equal(SampleServices.All.Order(StringComparer.Ordinal), hosted.Select(c => c[1]).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("coordinator.Dockerfile")]
    [InlineData("participants.Dockerfile")]
    public void Dockerfile_RuntimeStage_IsNonRootAndListensWhereComposeMapsIt(string file)
    {
        var text = File.ReadAllText(Path.Combine(Docker, file));
        var final = text[text.LastIndexOf("FROM ", StringComparison.Ordinal)..];
        Assert.Contains("USER $APP_UID", final, StringComparison.Ordinal);
        Assert.Contains("ENV ASPNETCORE_HTTP_PORTS=8080", final, StringComparison.Ordinal);
        Assert.Contains("EXPOSE 8080", final, StringComparison.Ordinal);
        Assert.Contains("mcr.microsoft.com/dotnet/aspnet", text, StringComparison.Ordinal);
        if (file.StartsWith("coordinator", StringComparison.Ordinal))
        {
            Assert.Contains(Ports("coordinator"), p => p.EndsWith(":8080", StringComparison.Ordinal));
        }
    }

    private static Dictionary<string, Type> Keys(params (string Section, Type Type)[] sections)
    {
        var keys = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        foreach (var (section, type) in sections)
        {
            AddKeys(keys, section, type, depth: 0);
        }

        return keys;
    }

    private static void AddKeys(Dictionary<string, Type> keys, string prefix, Type type, int depth)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var key = $"{prefix}:{property.Name}";
            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (IsLeaf(propertyType))
            {
                keys[key] = propertyType;
            }
            else if (propertyType.IsGenericType && propertyType.GetGenericArguments() is [var element] && typeof(System.Collections.IEnumerable).IsAssignableFrom(propertyType))
            {
                // Lists bind from indexed keys (Key:0, Key:1...); the samples also read "A,B" from the key itself.
                keys[key] = typeof(string);
                for (var i = 0; i < 4; i++)
                {
                    if (IsLeaf(element))
                    {
                        keys[$"{key}:{i}"] = element;
                    }
                    else if (depth < 4)
                    {
                        AddKeys(keys, $"{key}:{i}", element, depth + 1);
                    }
                }
            }
            else if (depth < 4 && propertyType.IsClass)
            {
                AddKeys(keys, key, propertyType, depth + 1);
            }
        }
    }

    private static bool IsLeaf(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(Uri) || type == typeof(TimeSpan) || type == typeof(decimal);

    private static bool IsValid(Type type, string value) => type switch
    {
        _ when type.IsEnum => Enum.TryParse(type, value, ignoreCase: true, out _),
        _ when type == typeof(bool) => bool.TryParse(value, out _),
        _ when type == typeof(int) => int.TryParse(value, out _),
        _ when type == typeof(long) => long.TryParse(value, out _),
        _ when type == typeof(double) => double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out _),
        _ when type == typeof(TimeSpan) => TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out _),
        _ when type == typeof(Uri) => Uri.TryCreate(value, UriKind.Absolute, out _),
        _ => value.Length > 0,
    };

    /// <summary><c>${NAME:-default}</c> becomes its default, as compose does when the variable is unset.</summary>
    private static string Interpolated(string value) => Interpolation().Replace(value, m => m.Groups["default"].Value);

    private static YamlMappingNode LoadServices()
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Docker, "compose.yaml"));
        stream.Load(reader);
        return (YamlMappingNode)((YamlMappingNode)stream.Documents[0].RootNode)["services"];
    }

    private static YamlMappingNode Node(string service) => (YamlMappingNode)Services[service];

    /// <summary>The service's mapping with YAML merge keys (<c>&lt;&lt;: *anchor</c>) applied.</summary>
    private static YamlMappingNode Merged(YamlMappingNode node)
    {
        var merged = new YamlMappingNode();
        foreach (var (key, value) in node.Children)
        {
            if (((YamlScalarNode)key).Value == "<<")
            {
                var sources = value is YamlSequenceNode several ? several.Children.Cast<YamlMappingNode>() : [(YamlMappingNode)value];
                foreach (var (inheritedKey, inheritedValue) in sources.SelectMany(source => Merged(source).Children))
                {
                    merged.Children[inheritedKey] = inheritedValue;
                }
            }
        }

        foreach (var (key, value) in node.Children)
        {
            if (((YamlScalarNode)key).Value != "<<")
            {
                merged.Children[key] = value is YamlMappingNode mapping ? Merged(mapping) : value;
            }
        }

        return merged;
    }

    private static Dictionary<string, string> Environment(string service) =>
        Merged(Node(service)).Children.TryGetValue(new YamlScalarNode("environment"), out var environment)
            ? ((YamlMappingNode)environment).Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value ?? "")
            : [];

    private static string? ImageOf(string service) =>
        Merged(Node(service)).Children.TryGetValue(new YamlScalarNode("image"), out var image) ? ((YamlScalarNode)image).Value : null;

    private static List<string> Command(string service) =>
        Merged(Node(service)).Children.TryGetValue(new YamlScalarNode("command"), out var command)
            ? ((YamlSequenceNode)command).Children.Select(c => ((YamlScalarNode)c).Value!).ToList()
            : [];

    private static List<string> Ports(string service) =>
        Merged(Node(service)).Children.TryGetValue(new YamlScalarNode("ports"), out var ports)
            ? ((YamlSequenceNode)ports).Children.Select(p => ((YamlScalarNode)p).Value!).ToList()
            : [];

    private static string RepositoryRoot()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Sagas.sln")))
        {
            folder = folder.Parent;
        }

        return folder?.FullName ?? throw new DirectoryNotFoundException("Sagas.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"(?:Host=|Server=|@)(?<host>[a-z][a-z0-9-]*)(?:[,;:](?:Port=)?(?<port>\d+))?")]
    private static partial Regex HostPattern();

    [GeneratedRegex(@"CREATE DATABASE (\w+)", RegexOptions.IgnoreCase)]
    private static partial Regex CreateDatabase();

    [GeneratedRegex(@"Host=postgres;[^;]*;?Database=(\w+)")]
    private static partial Regex PostgresDatabase();

    [GeneratedRegex(@"\$\{[A-Z_]+:-(?<default>[^}]*)\}")]
    private static partial Regex Interpolation();

    /// <summary>The connection strings the coordinator reads.</summary>
    private sealed class CoordinatorConnectionStrings
    {
        public string Sagas { get; set; } = "";
    }

    /// <summary>The connection strings the samples host reads (SampleHostExtensions.ReadSamplesOptions).</summary>
    private sealed class ParticipantConnectionStrings
    {
        public string Inventory { get; set; } = "";

        public string Payments { get; set; } = "";

        public string Shipping { get; set; } = "";
    }

    /// <summary><c>Samples:Provider</c>, the one key of the section the samples host reads directly.</summary>
    private sealed class SamplesHostSettings
    {
        public SampleProvider Provider { get; set; }
    }

    /// <summary>The samples host's telemetry keys (SampleHostTelemetry): a subset of the coordinator's.</summary>
    private sealed class ParticipantTelemetrySettings
    {
        public string ServiceName { get; set; } = "";

        public TelemetryOptions.OtlpSettings Otlp { get; set; } = new();
    }
}
