using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;

namespace Sagas.Coordinator.Hosting;

/// <summary>
/// Serves the dashboard (plain HTML, CSS and JavaScript modules from <c>src/Coordinator/Dashboard</c>, copied to
/// the output folder) at <c>/</c>. The files hold no data and are served anonymously: this middleware runs before
/// authentication and authorization, so the fallback (Reader) policy never sees these requests. The dashboard's
/// own API calls carry the user's key like any other client.
/// </summary>
public static class DashboardRegistration
{
    /// <summary><c>Sagas:Dashboard:Enabled</c> (default true) and <c>Sagas:Dashboard:Path</c> (default <c>Dashboard</c>, relative to the output folder).</summary>
    public const string Section = "Sagas:Dashboard";

    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static WebApplication UseSagasDashboard(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var section = app.Configuration.GetSection(Section);
        if (!section.GetValue("Enabled", true))
        {
            return app;
        }

        var folder = Path.GetFullPath(section["Path"] is { Length: > 0 } path ? path : "Dashboard", AppContext.BaseDirectory);
        if (!File.Exists(Path.Combine(folder, "index.html")))
        {
            app.Logger.LogWarning("Dashboard not served: no index.html in {Folder}", folder);
            return app;
        }

        var files = new PhysicalFileProvider(folder);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "" });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            RequestPath = "",
            OnPrepareResponse = context =>
            {
                var headers = context.Context.Response.Headers;

                // Revalidate every time (cheap: ETag/Last-Modified), so an upgrade is never half old, half new.
                headers[HeaderNames.CacheControl] = "no-cache";
                headers[HeaderNames.XContentTypeOptions] = "nosniff";
                headers[HeaderNames.ContentSecurityPolicy] = ContentSecurityPolicy;
                headers["Referrer-Policy"] = "no-referrer";
            },
        });
        return app;
    }
}
