using System.Net;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Sagas.Tests.Browser;

/// <summary>
/// The dashboard in real headless Chromium against a real coordinator process. The tests of this class run one
/// after another (one xunit collection), which the shared fault flag file relies on.
/// </summary>
public sealed class DashboardTests(DashboardFixture fixture) : IClassFixture<DashboardFixture>
{
    [Fact]
    public async Task Static_files_are_anonymous_and_the_api_is_not()
    {
        using var anonymous = new HttpClient { BaseAddress = fixture.BaseAddress };
        using var index = await anonymous.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Sagas dashboard", await index.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var script = await anonymous.GetAsync("/js/app.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        using var api = await anonymous.GetAsync("/api/sagas");
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
    }

    [Fact]
    public async Task Sign_in_learns_the_role_and_shows_counts_and_the_list()
    {
        var completed = await fixture.StartOrderAsync("NL", "o-signin-" + Guid.NewGuid().ToString("N")[..6]);
        await fixture.WaitForStateAsync(completed, "Completed");

        var page = await fixture.Browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1440, Height = 900 } });
        await page.GotoAsync("/");
        await page.FillAsync("#api-key", "sagas_not_a_key_at_all_000000");
        await page.ClickAsync("#signin-form button[type=submit]");
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("refused");
        await page.CloseAsync();

        var admin = await fixture.SignedInPageAsync(DashboardFixture.AdminKey, "Admin");
        await Expect(admin.GetByTestId("counts")).ToBeVisibleAsync();
        await Expect(admin.GetByTestId("count-Completed").Locator(".n")).Not.ToHaveTextAsync("0");
        await Expect(admin.Locator($"tr[data-saga='{completed}']")).ToBeVisibleAsync();
        Assert.Equal("Admin", await admin.EvaluateAsync<string>("() => document.body.dataset.role"));
        Assert.NotNull(await admin.EvaluateAsync<string>("() => sessionStorage.getItem('sagas.apiKey')"));
        Assert.Null(await admin.EvaluateAsync<string?>("() => localStorage.getItem('sagas.apiKey')"));

        var op = await fixture.SignedInPageAsync(DashboardFixture.OperatorKey, "Operator");
        await Expect(op.GetByTestId("saga-list")).ToBeVisibleAsync();
        await op.Context.CloseAsync();
        await admin.Context.CloseAsync();
    }

    [Fact]
    public async Task A_compensated_saga_is_found_by_filter_and_its_timeline_draws_both_compensations()
    {
        var key = "o-aq-" + Guid.NewGuid().ToString("N")[..6];
        var sagaId = await fixture.StartOrderAsync("AQ", key);
        await fixture.WaitForStateAsync(sagaId, "Compensated");
        for (var i = 0; i < 3; i++)
        {
            await fixture.StartOrderAsync(i == 1 ? "AQ" : "NL", $"o-more-{i}-" + Guid.NewGuid().ToString("N")[..4]);
        }

        var page = await fixture.SignedInPageAsync(DashboardFixture.OperatorKey, "Operator");
        await page.SelectOptionAsync("#f-state", "Compensated");
        await page.FillAsync("#f-businessKey", key);
        await page.ClickAsync("form.filters button[type=submit]");
        var rows = page.Locator("[data-testid=saga-list] tbody tr[data-saga]");
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.First).ToHaveAttributeAsync("data-saga", sagaId.ToString());
        await Expect(rows.First.GetByTestId("state")).ToHaveTextAsync("Compensated");

        // The unfiltered list, for the README screenshot.
        await page.ClickAsync("form.filters button:has-text('Clear')");
        await Expect(page.Locator("[data-testid=saga-list] tbody tr[data-saga]").First).ToBeVisibleAsync();
        await page.WaitForTimeoutAsync(300);
        await fixture.ScreenshotAsync(page, "sagas");

        await page.GotoAsync($"/#/sagas/{sagaId}");
        await Expect(page.GetByTestId("saga-page").GetByTestId("state").First).ToHaveTextAsync("Compensated");
        var timeline = page.GetByTestId("timeline");
        await Expect(timeline.Locator("rect[data-kind=compensation][data-step='charge-payment'][data-outcome=compensated]")).ToHaveCountAsync(1);
        await Expect(timeline.Locator("rect[data-kind=compensation][data-step='reserve-stock'][data-outcome=compensated]")).ToHaveCountAsync(1);
        await Expect(timeline.Locator("rect[data-kind=action][data-step='book-shipment'][data-outcome=failed]")).ToHaveCountAsync(1);
        await Expect(timeline.Locator("rect[data-kind=compensation][data-step='book-shipment']")).ToHaveCountAsync(0);

        var diagram = page.GetByTestId("definition-diagram");
        await Expect(diagram.Locator("g.step-box")).ToHaveCountAsync(3);
        await Expect(diagram.Locator("g.step-box[data-current=true]")).ToHaveAttributeAsync("data-step", "book-shipment");
        await Expect(page.GetByTestId("history").Locator("tbody tr")).ToHaveCountAsync(13);
        await Expect(page.GetByTestId("history")).ToContainTextAsync("SagaCompensated");
        await fixture.ScreenshotAsync(page, "saga-compensated");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task An_operator_retries_a_failed_compensation_from_the_dashboard_and_the_saga_compensates()
    {
        var sagaId = await StartFailedCompensationAsync();
        try
        {
            var page = await fixture.SignedInPageAsync(DashboardFixture.OperatorKey, "Operator");
            await page.ClickAsync("#nav a[data-page=compensations]");
            var row = page.Locator($"[data-testid=compensations-failed] tr[data-saga='{sagaId}']");
            await Expect(row).ToBeVisibleAsync();
            await Expect(row).ToContainTextAsync("charge-payment");
            await Expect(row.Locator("button[data-action=retry]")).ToBeVisibleAsync();
            await Expect(row.Locator("button[data-action=skip]")).ToHaveCountAsync(0); // skip is Admin only
            await fixture.ScreenshotAsync(page, "compensations");

            // The saga page shows the failure before the retry.
            await page.GotoAsync($"/#/sagas/{sagaId}");
            await Expect(page.GetByTestId("saga-page").GetByTestId("state").First).ToHaveTextAsync("Failed");
            await Expect(page.GetByTestId("timeline").Locator("rect[data-kind=compensation][data-step='charge-payment'][data-outcome=failed]")).ToHaveCountAsync(1);
            await fixture.ScreenshotAsync(page, "saga-failed-compensation");

            // Remove the cause, then retry from the compensations page: confirm, with a reason.
            File.Delete(fixture.FailCompensationsFlag);
            await page.GotoAsync("/#/compensations");
            await page.Locator($"[data-testid=compensations-failed] tr[data-saga='{sagaId}'] button[data-action=retry]").ClickAsync();
            var dialog = page.Locator("dialog#confirm");
            await Expect(dialog).ToBeVisibleAsync();
            await page.ClickAsync("#confirm-ok"); // no reason: refused by the form
            await Expect(page.Locator("#confirm-error")).ToContainTextAsync("reason");
            await page.FillAsync("#confirm-reason", "payments is back; retrying the refund");
            await page.ClickAsync("#confirm-ok");
            await Expect(dialog).ToBeHiddenAsync();

            await fixture.WaitForStateAsync(sagaId, "Compensated");
            await page.GotoAsync($"/#/sagas/{sagaId}");
            await Expect(page.GetByTestId("saga-page").GetByTestId("state").First).ToHaveTextAsync("Compensated");
            await Expect(page.GetByTestId("history")).ToContainTextAsync("RetryRequested");
            await Expect(page.GetByTestId("history")).ToContainTextAsync("browser-operator");
            await Expect(page.GetByTestId("timeline").Locator("rect[data-kind=compensation][data-step='charge-payment'][data-outcome=compensated]")).ToHaveCountAsync(1);
            await Expect(page.GetByTestId("actions")).ToHaveCountAsync(0);
            await fixture.ScreenshotAsync(page, "saga-retried");
            await page.Context.CloseAsync();
        }
        finally
        {
            File.Delete(fixture.FailCompensationsFlag);
        }
    }

    [Fact]
    public async Task A_reader_sees_no_action_buttons_and_the_server_refuses_the_action()
    {
        var sagaId = await StartFailedCompensationAsync();
        File.Delete(fixture.FailCompensationsFlag);

        var page = await fixture.SignedInPageAsync(DashboardFixture.ReaderKey, "Reader");
        await page.ClickAsync("#nav a[data-page=compensations]");
        var row = page.Locator($"[data-testid=compensations-failed] tr[data-saga='{sagaId}']");
        await Expect(row).ToBeVisibleAsync();
        await Expect(page.Locator("button[data-action]")).ToHaveCountAsync(0);

        await page.GotoAsync($"/#/sagas/{sagaId}");
        await Expect(page.GetByTestId("saga-page").GetByTestId("state").First).ToHaveTextAsync("Failed");
        await Expect(page.GetByTestId("timeline")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("actions")).ToHaveCountAsync(0);
        await Expect(page.Locator("button[data-action]")).ToHaveCountAsync(0);
        await fixture.ScreenshotAsync(page, "saga-as-reader");

        // The server refuses it anyway, even from the dashboard's own page (the key it holds).
        var status = await page.EvaluateAsync<int>(
            "async id => (await fetch(`/api/sagas/${id}/retry`, { method: 'POST', headers: { 'X-Api-Key': sessionStorage.getItem('sagas.apiKey'), 'Content-Type': 'application/json' }, body: JSON.stringify({ reason: 'reader tries', step: 'charge-payment' }) })).status",
            sagaId.ToString());
        Assert.Equal(403, status);
        using var reader = fixture.Client(DashboardFixture.ReaderKey);
        using var skip = await reader.PostAsync($"api/sagas/{sagaId}/compensations/charge-payment/skip", new StringContent("{\"reason\":\"reader\"}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Forbidden, skip.StatusCode);
        Assert.Equal("Failed", await fixture.WaitForStateAsync(sagaId, "Failed"));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task The_definitions_page_draws_every_definition_with_parallel_groups_and_wait_steps()
    {
        var page = await fixture.SignedInPageAsync(DashboardFixture.ReaderKey, "Reader");
        await page.ClickAsync("#nav a[data-page=definitions]");
        var parallel = page.Locator("section[data-definition='order-parallel']");
        await Expect(parallel.Locator("svg .group-frame")).ToHaveCountAsync(1);
        await Expect(parallel.Locator("g.step-box.wait[data-step='wait-packed']")).ToHaveCountAsync(1);
        await Expect(page.Locator("section[data-definition='order-fulfilment'] g.step-box")).ToHaveCountAsync(3);

        // Parallel steps share a column; the others each have their own.
        var reserve = await parallel.Locator("g.step-box[data-step='reserve-stock'] rect").BoundingBoxAsync();
        var charge = await parallel.Locator("g.step-box[data-step='charge-payment'] rect").BoundingBoxAsync();
        var wait = await parallel.Locator("g.step-box[data-step='wait-packed'] rect").BoundingBoxAsync();
        Assert.Equal(reserve!.X, charge!.X, 1);
        Assert.True(wait!.X > reserve.X + reserve.Width, "the wait step comes after the parallel group");
        await fixture.ScreenshotAsync(page, "definitions");
        await page.Context.CloseAsync();
    }

    /// <summary>An AQ order while compensations fail: the refund fails for good and the saga ends Failed.</summary>
    private async Task<Guid> StartFailedCompensationAsync()
    {
        await File.WriteAllTextAsync(fixture.FailCompensationsFlag, "compensations fail while this file exists");
        var sagaId = await fixture.StartOrderAsync("AQ", "o-fail-" + Guid.NewGuid().ToString("N")[..6]);
        await fixture.WaitForStateAsync(sagaId, "Failed");
        return sagaId;
    }
}
