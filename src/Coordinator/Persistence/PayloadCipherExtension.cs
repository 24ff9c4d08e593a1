using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Sagas.Participants.Payloads;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// Carries the payload cipher inside the context options, so the provider contexts keep the single-options
/// constructor that EF's context pool needs; <see cref="SagasDbContext"/> reads it back with <see cref="Find"/>.
/// </summary>
internal sealed class PayloadCipherExtension(PayloadCipher cipher) : IDbContextOptionsExtension
{
    public PayloadCipher Cipher { get; } = cipher;

    public DbContextOptionsExtensionInfo Info => new ExtensionInfo(this);

    public static PayloadCipher? Find(DbContextOptions options) => options.FindExtension<PayloadCipherExtension>()?.Cipher;

    /// <summary>The options with <paramref name="cipher"/> added, plus the model cache key that keeps models with and without it apart.</summary>
    public static DbContextOptions<T> Apply<T>(DbContextOptionsBuilder<T> builder, PayloadCipher? cipher)
        where T : DbContext
    {
        if (cipher is null)
        {
            return builder.Options;
        }

        ((IDbContextOptionsBuilderInfrastructure)builder).AddOrUpdateExtension(new PayloadCipherExtension(cipher));
        return builder.ReplaceService<IModelCacheKeyFactory, CipherModelCacheKeyFactory>().Options;
    }

    public void ApplyServices(IServiceCollection services)
    {
    }

    public void Validate(IDbContextOptions options)
    {
    }

    private sealed class ExtensionInfo(IDbContextOptionsExtension extension) : DbContextOptionsExtensionInfo(extension)
    {
        public override bool IsDatabaseProvider => false;

        public override string LogFragment => "PayloadCipher ";

        public override int GetServiceProviderHashCode() => 0;

        public override bool ShouldUseSameServiceProvider(DbContextOptionsExtensionInfo other) => other is ExtensionInfo;

        public override void PopulateDebugInfo(IDictionary<string, string> debugInfo)
        {
        }
    }
}
