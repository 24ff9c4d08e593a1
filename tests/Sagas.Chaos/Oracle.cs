namespace Sagas.Chaos;

public sealed record SagaStatus(string State, string? Reason);

public sealed record Verdict(int Sagas, int Completed, int Compensated, int Failed, int Lost, int Inconsistent, int DoubleEffects, List<string> Problems);

/// <summary>
/// Judges the run from the participants' ledgers. The coordinator only says which terminal state each saga
/// claims; the ledgers say whether that claim is true and whether anything moved twice.
/// </summary>
public static class Oracle
{
    private static readonly (string Service, string Step)[] Steps = [("inventory", "reserve-stock"), ("payments", "charge-payment"), ("shipping", "book-shipment")];

    public static Verdict Judge(
        IReadOnlyList<SagaSpec> sagas,
        IReadOnlyDictionary<Guid, SagaStatus?> states,
        IReadOnlyDictionary<string, long> initialStock,
        IReadOnlyDictionary<string, long> initialBalances,
        Ledger ledger)
    {
        var problems = new List<string>();
        int completed = 0, compensated = 0, failed = 0, lost = 0, inconsistent = 0, doubles = 0;
        var reservations = ledger.Reservations.ToLookup(r => r.SagaId);
        var charges = ledger.Charges.ToLookup(c => c.SagaId);
        var shipments = ledger.Shipments.ToLookup(s => s.SagaId);
        var barrier = ledger.Barrier.ToLookup(b => b.SagaId);

        foreach (var saga in sagas)
        {
            var r = reservations[saga.Id].ToList();
            var c = charges[saga.Id].ToList();
            var s = shipments[saga.Id].ToList();
            if (r.Count > 1 || c.Count > 1 || s.Count > 1)
            {
                doubles++;
                problems.Add($"double effect: saga {saga.Id} (#{saga.Index}) has {r.Count} reservation(s), {c.Count} charge(s), {s.Count} shipment(s)");
            }

            // Moved = applied and not undone. Undone = moved and moved back.
            var moved = new[] { r.Any(x => !x.Released), c.Any(x => !x.Refunded), s.Any(x => !x.Cancelled) };
            var undone = new[] { r.Any(x => x.Released), c.Any(x => x.Refunded), s.Any(x => x.Cancelled) };
            var barrierProblem = CheckBarrier(saga, barrier[saga.Id].ToList(), r.Count > 0, c.Count > 0, s.Count > 0, undone);

            states.TryGetValue(saga.Id, out var status);
            if (status is null)
            {
                lost++;
                problems.Add($"lost: saga {saga.Id} (#{saga.Index}, {saga.Kind}) is unknown to the coordinator");
                continue;
            }

            string? wrong = null;
            switch (status.State)
            {
                case "Completed":
                    completed++;
                    if (!moved.All(m => m))
                    {
                        wrong = $"Completed but moved reserve={moved[0]} charge={moved[1]} ship={moved[2]} (undone {undone[0]}/{undone[1]}/{undone[2]})";
                    }
                    else if (saga.Kind is SagaKind.Declined or SagaKind.Refused)
                    {
                        wrong = $"Completed although it was made to fail ({saga.Kind})";
                    }

                    break;
                case "Compensated":
                    compensated++;
                    if (moved.Any(m => m))
                    {
                        wrong = $"Compensated but still moved reserve={moved[0]} charge={moved[1]} ship={moved[2]}";
                    }

                    break;
                case "Failed":
                    failed++;
                    if (string.IsNullOrWhiteSpace(status.Reason))
                    {
                        wrong = "Failed without a reason";
                    }
                    else
                    {
                        problems.Add($"failed (needs a person): saga {saga.Id} (#{saga.Index}): {status.Reason}");
                    }

                    break;
                case "Running" or "Compensating" or "Paused":
                    lost++;
                    problems.Add($"lost: saga {saga.Id} (#{saga.Index}, {saga.Kind}) still {status.State} after the drain");
                    continue;
                default:
                    wrong = $"unexpected state {status.State}";
                    break;
            }

            wrong ??= barrierProblem;
            if (wrong is not null)
            {
                inconsistent++;
                problems.Add($"inconsistent: saga {saga.Id} (#{saga.Index}, {saga.Kind}): {wrong}");
            }
        }

        // Totals: what left the shelf (or the account) is exactly what is held by orders that still hold it.
        foreach (var (sku, initial) in initialStock)
        {
            var now = ledger.Stock.GetValueOrDefault(sku);
            var held = ledger.Reservations.Where(x => x.Sku == sku && !x.Released).Sum(x => x.Quantity);
            if (initial - now != held)
            {
                doubles++;
                problems.Add($"totals: sku {sku} initial {initial} - now {now} = {initial - now}, but reservations hold {held}");
            }
        }

        foreach (var (customer, initial) in initialBalances)
        {
            var now = ledger.Balances.GetValueOrDefault(customer);
            var held = ledger.Charges.Where(x => x.CustomerId == customer && !x.Refunded).Sum(x => x.AmountCents);
            if (initial - now != held)
            {
                doubles++;
                problems.Add($"totals: customer {customer} initial {initial} - now {now} = {initial - now} cents, but charges hold {held}");
            }
        }

        return new Verdict(sagas.Count, completed, compensated, failed, lost, inconsistent, doubles, problems);
    }

    /// <summary>The ledger and the barrier are written in one transaction, so they must agree.</summary>
    private static string? CheckBarrier(SagaSpec saga, List<BarrierEntry> rows, bool reserved, bool charged, bool shipped, bool[] undone)
    {
        var applied = new[] { reserved, charged, shipped };
        for (var i = 0; i < Steps.Length; i++)
        {
            var (service, step) = Steps[i];
            var action = rows.FirstOrDefault(b => b.Service == service && b.Step == step && b.Op == "action");
            var compensation = rows.FirstOrDefault(b => b.Service == service && b.Step == step && b.Op == "compensation");
            if (applied[i] != (action?.Outcome == "succeeded"))
            {
                return $"{step}: ledger row {(applied[i] ? "present" : "absent")} but barrier action is '{action?.Outcome ?? "none"}'";
            }

            if (undone[i] != (compensation?.Outcome == "compensated"))
            {
                return $"{step}: ledger {(undone[i] ? "undone" : "not undone")} but barrier compensation is '{compensation?.Outcome ?? "none"}'";
            }
        }

        _ = saga;
        return null;
    }
}
