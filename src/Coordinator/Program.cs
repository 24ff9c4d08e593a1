using Sagas.Coordinator.Hosting;

if (args.Length > 0 && args[0] == "migrate")
{
    return await MigrateCommand.RunAsync(args[1..]);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddSagasPersistence();
builder.AddSagasMessaging();
builder.AddSagasApi();

var app = builder.Build();
app.MapSagasApi();
await app.RunAsync();
return 0;

/// <summary>Entry point type, visible to the integration tests' WebApplicationFactory.</summary>
public partial class Program;
