using System.Buffers.Text;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Sagas.Coordinator.Hosting;
using Sagas.Coordinator.Persistence;

namespace Sagas.Coordinator.Api.Auth;

/// <summary>
/// Loads the valid keys at start-up: the configured ones (hashed) and the generated ones in <c>api_keys</c>.
/// With neither, it generates an Admin key, logs it once and stores only its hash, so the API is never open by
/// accident and a restart keeps the key valid. Registered after the schema is migrated.
/// </summary>
public sealed class ApiKeyBootstrapper(
    ApiKeyStore store,
    SagasDbFactory dbFactory,
    TimeProvider clock,
    IOptions<SagasOptions> options,
    ILogger<ApiKeyBootstrapper> logger) : IHostedService
{
    public const string GeneratedKeyName = "admin";
    public const string GeneratedKeyPrefix = "sagas_";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var auth = options.Value.Auth;
        if (!auth.Enabled)
        {
            logger.LogWarning("Access control is OFF (Sagas:Auth:Enabled=false): anyone who can reach the API is an Admin");
            return;
        }

        foreach (var key in ApiKeyStore.FromOptions(auth.ApiKeys))
        {
            store.Add(key);
        }

        var stored = await LoadStoredAsync(cancellationToken);
        if (store.Count == 0 && stored.Count == 0 && !auth.Jwt.IsConfigured)
        {
            stored = await GenerateAsync(cancellationToken);
        }

        foreach (var record in stored)
        {
            store.Add(new ApiKey(record.Name, Convert.FromHexString(record.Hash), Policies.Normalize(record.Role) ?? Policies.Reader, record.Tenant));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task<List<ApiKeyRecord>> LoadStoredAsync(CancellationToken ct)
    {
        await using var db = dbFactory.Create();
        return await db.ApiKeys.AsNoTracking().ToListAsync(ct);
    }

    private async Task<List<ApiKeyRecord>> GenerateAsync(CancellationToken ct)
    {
        var key = GeneratedKeyPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var record = new ApiKeyRecord
        {
            Name = GeneratedKeyName,
            Hash = Convert.ToHexStringLower(ApiKeyStore.Hash(key)),
            Role = Policies.Admin,
            CreatedAt = clock.GetUtcNow(),
        };
        await using var db = dbFactory.Create();
        db.ApiKeys.Add(record);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // Another coordinator instance generated one at the same moment: use that one, and never print ours.
            return await LoadStoredAsync(ct);
        }

        logger.LogWarning(
            "No API key is configured, so an Admin API key was generated. It is shown only this once: {ApiKey} " +
            "Send it as the X-Api-Key header. Only its hash is stored (table api_keys, name '{Name}'); configure keys under Sagas:Auth:ApiKeys instead for anything but a trial",
            key,
            GeneratedKeyName);
        return [record];
    }
}
