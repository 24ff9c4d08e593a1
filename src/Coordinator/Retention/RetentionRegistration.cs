namespace Sagas.Coordinator.Retention;

public static class RetentionRegistration
{
    /// <summary>The retention job (<c>Sagas:Retention</c>); it does nothing when <c>KeepFor</c> is null or zero.</summary>
    public static IHostApplicationBuilder AddSagasRetention(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section);
        builder.Services.AddSingleton<RetentionService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        return builder;
    }
}
