using Sagas.Contracts;
using Sagas.Samples.Inventory;
using Sagas.Samples.Payments;
using Xunit;

namespace Sagas.Participants.Tests;

/// <summary>The sample services' business rules, asserted on their stored state.</summary>
public sealed class SampleRulesTests(SqliteParticipantFixture fixture) : IClassFixture<SqliteParticipantFixture>
{
    [Fact]
    public async Task Seed_DemoData_HasEnoughForThousandOrders()
    {
        Assert.True(await fixture.Ledger.GetStockAsync(InventoryDb.DemoSku) >= 1_000);
        Assert.True(await fixture.Ledger.GetBalanceAsync(PaymentsDb.DemoCustomer) >= 25_000m);
    }

    [Fact]
    public async Task Reserve_StockShort_FailsWithoutEffect()
    {
        var sku = Orders.Unique("sku");
        await fixture.Ledger.SeedStockAsync(sku, 2);

        var reply = Assert.IsType<StepFailed>(await fixture.Inventory.ExecuteAsync(Orders.Execute(Guid.NewGuid(), "reserve", "reserve", 1, Orders.Data(sku: sku, quantity: 3)), default));

        Assert.False(reply.Retryable);
        Assert.Contains(sku, reply.Reason, StringComparison.Ordinal);
        Assert.Equal(2, await fixture.Ledger.GetStockAsync(sku));
        Assert.Empty(await fixture.Ledger.GetReservationsAsync(sku));
    }

    [Fact]
    public async Task Charge_BalanceShort_DeclinesNamingCustomerAndAmounts()
    {
        var customer = Orders.Unique("c");
        await fixture.Ledger.SeedCustomerAsync(customer, 10.00m);

        var reply = Assert.IsType<StepFailed>(await fixture.Payments.ExecuteAsync(Orders.Execute(Guid.NewGuid(), "pay", "charge", 1, Orders.Data(customer: customer, amount: 25.00m)), default));

        Assert.False(reply.Retryable);
        Assert.Contains(customer, reply.Reason, StringComparison.Ordinal);
        Assert.Contains("10.00", reply.Reason, StringComparison.Ordinal);
        Assert.Contains("25.00", reply.Reason, StringComparison.Ordinal);
        Assert.Equal(10.00m, await fixture.Ledger.GetBalanceAsync(customer));
        Assert.Empty(await fixture.Ledger.GetChargesAsync(customer));
    }

    [Fact]
    public async Task Charge_UnknownCustomer_Declines()
    {
        var customer = Orders.Unique("ghost");

        var reply = Assert.IsType<StepFailed>(await fixture.Payments.ExecuteAsync(Orders.Execute(Guid.NewGuid(), "pay", "charge", 1, Orders.Data(customer: customer)), default));

        Assert.False(reply.Retryable);
        Assert.Contains(customer, reply.Reason, StringComparison.Ordinal);
        Assert.Null(await fixture.Ledger.GetBalanceAsync(customer));
    }

    [Fact]
    public async Task Charge_ThenRefund_RestoresBalance()
    {
        var customer = Orders.Unique("c");
        await fixture.Ledger.SeedCustomerAsync(customer, 100.00m);
        var saga = Guid.NewGuid();
        var data = Orders.Data(customer: customer, amount: 25.50m);

        Assert.IsType<StepSucceeded>(await fixture.Payments.ExecuteAsync(Orders.Execute(saga, "pay", "charge", 1, data), default));
        Assert.Equal(74.50m, await fixture.Ledger.GetBalanceAsync(customer));
        Assert.IsType<StepCompensated>(await fixture.Payments.CompensateAsync(Orders.Compensate(saga, "pay", "refund", 1, data), default));

        Assert.Equal(100.00m, await fixture.Ledger.GetBalanceAsync(customer));
        Assert.True(Assert.Single(await fixture.Ledger.GetChargesAsync(customer)).Refunded);
    }

    [Fact]
    public async Task Book_Antarctica_RefusedEvenWhenConfigured()
    {
        var order = Orders.Unique("o");

        var reply = Assert.IsType<StepFailed>(await fixture.Shipping.ExecuteAsync(Orders.Execute(Guid.NewGuid(), "ship", "book", 1, Orders.Data(country: "AQ", orderId: order)), default));

        Assert.False(reply.Retryable);
        Assert.Contains("AQ", reply.Reason, StringComparison.Ordinal);
        Assert.Empty(await fixture.Ledger.GetShipmentsAsync(order));
    }

    [Fact]
    public async Task Book_UnservedCountry_Refused()
    {
        var order = Orders.Unique("o");

        var reply = Assert.IsType<StepFailed>(await fixture.Shipping.ExecuteAsync(Orders.Execute(Guid.NewGuid(), "ship", "book", 1, Orders.Data(country: "US", orderId: order)), default));

        Assert.Contains("US", reply.Reason, StringComparison.Ordinal);
        Assert.Empty(await fixture.Ledger.GetShipmentsAsync(order));
    }

    [Fact]
    public async Task Book_ServedCountry_RecordsShipmentAndCancelMarksIt()
    {
        var order = Orders.Unique("o");
        var saga = Guid.NewGuid();
        var data = Orders.Data(country: "nl", orderId: order);

        Assert.IsType<StepSucceeded>(await fixture.Shipping.ExecuteAsync(Orders.Execute(saga, "ship", "book", 1, data), default));
        Assert.False(Assert.Single(await fixture.Ledger.GetShipmentsAsync(order)).Cancelled);
        Assert.IsType<StepCompensated>(await fixture.Shipping.CompensateAsync(Orders.Compensate(saga, "ship", "cancel", 1, data), default));

        Assert.True(Assert.Single(await fixture.Ledger.GetShipmentsAsync(order)).Cancelled);
    }

    [Fact]
    public async Task Reserve_MalformedData_FailsAsBusinessFailure()
    {
        var data = System.Text.Json.JsonSerializer.SerializeToElement(new { sku = 42 });

        var reply = Assert.IsType<StepFailed>(await fixture.Inventory.ExecuteAsync(Orders.Execute(Guid.NewGuid(), "reserve", "reserve", 1, data), default));

        Assert.False(reply.Retryable);
    }
}
