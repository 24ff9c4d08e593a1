using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Retention;
using Sagas.Coordinator.Telemetry;

if (args.Length > 0 && args[0] == "migrate")
{
    return await MigrateCommand.RunAsync(args[1..]);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddSagasPersistence();
builder.AddSagasMessaging();
builder.AddSagasApi();
builder.AddSagasTelemetry();
builder.AddSagasRetention();

var app = builder.Build();
app.MapSagasApi();
await app.RunAsync();
return 0;

/// <summary>Entry point type, visible to the integration tests' WebApplicationFactory.</summary>
public partial class Program;
