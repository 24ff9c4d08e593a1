using Microsoft.Extensions.Hosting;
using Sagas.Samples.Host;

// dotnet run --project src/Participants/Sagas.Samples.Host -- --service inventory|payments|shipping|all
var builder = Host.CreateApplicationBuilder(args);
builder.AddSampleParticipantsHost();
builder.AddSampleTelemetry();
await builder.Build().RunAsync();
