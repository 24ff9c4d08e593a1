using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Sagas.Coordinator.Api;

namespace Sagas.Tests.Unit.Api;

/// <summary>Regression (found by the chaos run): a database outage answered API calls with an unhandled 500.</summary>
public sealed class DatabaseUnavailableHandlerTests
{
    [Fact]
    public async Task TryHandle_DatabaseException_Writes503ProblemWithRetryAfter()
    {
        var (handler, context, body) = Create();

        var handled = await handler.TryHandleAsync(context, new InvalidOperationException("wrapped", new SqliteException("unable to open database file", 14)), default);

        Assert.True(handled);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal("5", context.Response.Headers.RetryAfter.ToString());
        body.Position = 0;
        using var problem = await JsonDocument.ParseAsync(body);
        Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("Database unavailable", problem.RootElement.GetProperty("title").GetString());
    }

    [Fact]
    public async Task TryHandle_OtherException_LeavesItToTheDefaultHandler()
    {
        var (handler, context, _) = Create();

        Assert.False(await handler.TryHandleAsync(context, new ArgumentException("a bug"), default));
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
    }

    private static (DatabaseUnavailableHandler Handler, DefaultHttpContext Context, MemoryStream Body) Create()
    {
        var services = new ServiceCollection().AddLogging().AddProblemDetails().BuildServiceProvider();
        var body = new MemoryStream();
        var context = new DefaultHttpContext { RequestServices = services };
        context.Response.Body = body;
        context.Request.Headers.Accept = "application/json";
        var handler = new DatabaseUnavailableHandler(services.GetRequiredService<IProblemDetailsService>(), NullLogger<DatabaseUnavailableHandler>.Instance);
        return (handler, context, body);
    }
}

/// <summary>Regression (found by the long chaos run): a connection cut during start-up, wrapped by EF Core, killed the coordinator.</summary>
public sealed class TransientDatabaseErrorsTests
{
    [Fact]
    public void IsTransient_ProviderErrorWrappedByEfCore_True() =>
        Assert.True(Sagas.Coordinator.Persistence.TransientDatabaseErrors.IsTransient(
            new InvalidOperationException("An exception has been raised that is likely due to a transient failure.", new SqliteException("terminating connection", 57))));

    [Fact]
    public void IsTransient_ModelOrMigrationError_False() =>
        Assert.False(Sagas.Coordinator.Persistence.TransientDatabaseErrors.IsTransient(
            new InvalidOperationException("The model for context 'PostgresSagasDbContext' has pending changes.")));

    /// <summary>Regression (CI): a deadlock PostgreSQL broke by aborting a transition failed it instead of running it again.</summary>
    [Fact]
    public void IsConflict_DeadlockWrappedByEfExecutionStrategy_True() =>
        Assert.True(Sagas.Coordinator.Persistence.TransientDatabaseErrors.IsConflict(
            new InvalidOperationException("An exception has been raised that is likely due to a transient failure.",
                new Microsoft.EntityFrameworkCore.DbUpdateException("saving failed", new Npgsql.PostgresException("deadlock detected", "ERROR", "ERROR", "40P01")))));

    [Fact]
    public void IsConflict_SerializationFailure_True() =>
        Assert.True(Sagas.Coordinator.Persistence.TransientDatabaseErrors.IsConflict(
            new Npgsql.PostgresException("could not serialize access", "ERROR", "ERROR", "40001")));

    [Fact]
    public void IsConflict_ServerShuttingDownOrModelError_False()
    {
        Assert.False(Sagas.Coordinator.Persistence.TransientDatabaseErrors.IsConflict(
            new InvalidOperationException("An exception has been raised that is likely due to a transient failure.",
                new Npgsql.PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01"))));
        Assert.False(Sagas.Coordinator.Persistence.TransientDatabaseErrors.IsConflict(
            new InvalidOperationException("The model for context 'PostgresSagasDbContext' has pending changes.")));
    }
}
