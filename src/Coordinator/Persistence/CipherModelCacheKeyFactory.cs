using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Sagas.Coordinator.Persistence;

/// <summary>
/// EF Core builds a model once per cache key, and the default key is the context type alone. The payload cipher is
/// baked into the model's value converters, so it belongs in the key: a context with encryption never reuses a
/// model built without it (several hosts in one test process may differ).
/// </summary>
internal sealed class CipherModelCacheKeyFactory : IModelCacheKeyFactory
{
    public object Create(DbContext context, bool designTime) =>
        (context.GetType(), (context as SagasDbContext)?.Cipher, designTime);
}
