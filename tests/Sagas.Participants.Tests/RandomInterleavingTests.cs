using Sagas.Contracts;
using Xunit;
using Xunit.Abstractions;

namespace Sagas.Participants.Tests;

/// <summary>
/// 1,000 random interleavings per anomaly of actions, compensations and their duplicates, some delivered
/// concurrently; afterwards the inventory ledger must agree with what the replies claimed.
/// </summary>
public abstract class RandomInterleavingTests(ParticipantFixture fixture, ITestOutputHelper output)
{
    private const int SagasPerAnomaly = 1_000;
    private const int SagasInFlight = 16;
    private const long InitialStock = 1_000_000;

    public enum Anomaly
    {
        /// <summary>The action first, then more copies of it, maybe compensations.</summary>
        DuplicateRequest,

        /// <summary>Only compensations: the action never arrives.</summary>
        NullCompensation,

        /// <summary>A compensation first, then the action (and copies) late.</summary>
        HangingAction,
    }

    [SkippableTheory]
    [InlineData(Anomaly.DuplicateRequest)]
    [InlineData(Anomaly.NullCompensation)]
    [InlineData(Anomaly.HangingAction)]
    public async Task Barrier_RandomInterleavings_LedgerStaysConsistent(Anomaly anomaly)
    {
        Skip.IfNot(fixture.Available, ParticipantFixture.PostgresVariable + " not set");
        var seed = Environment.TickCount;
        output.WriteLine($"anomaly {anomaly}, seed {seed}");
        var random = new Random(seed);
        var sku = Orders.Unique("sku");
        await fixture.Ledger.SeedStockAsync(sku, InitialStock);

        var scripts = Enumerable.Range(0, SagasPerAnomaly).Select(_ => Script.Generate(anomaly, random, sku)).ToList();
        foreach (var batch in scripts.Chunk(SagasInFlight))
        {
            await Task.WhenAll(batch.Select(RunAsync));
        }

        var reservations = (await fixture.Ledger.GetReservationsAsync(sku)).ToDictionary(r => r.SagaId);
        long held = 0;
        foreach (var script in scripts)
        {
            reservations.TryGetValue(script.SagaId, out var reservation);
            var succeeded = script.CheckReplies(seed);
            if (!succeeded)
            {
                Assert.Null(reservation);
                continue;
            }

            Assert.NotNull(reservation);
            Assert.Equal(script.Quantity, reservation.Quantity);
            Assert.Equal(script.Compensations > 0, reservation.Released);
            held += reservation.Released ? 0 : script.Quantity;
        }

        Assert.Equal(InitialStock - held, await fixture.Ledger.GetStockAsync(sku));
    }

    private async Task RunAsync(Script script)
    {
        var attempt = 0;
        foreach (var group in script.Groups)
        {
            var calls = group.Select(isAction =>
            {
                var n = ++attempt;
                return isAction
                    ? Task.Run(async () => (true, await fixture.Inventory.ExecuteAsync(Orders.Execute(script.SagaId, "reserve", "reserve", n, script.Data), default)))
                    : Task.Run(async () => (false, await fixture.Inventory.CompensateAsync(Orders.Compensate(script.SagaId, "reserve", "release", n, script.Data), default)));
            }).ToList();
            foreach (var (isAction, reply) in await Task.WhenAll(calls))
            {
                (isAction ? script.ActionReplies : script.CompensationReplies).Add(reply);
            }
        }
    }

    private sealed class Script
    {
        public Guid SagaId { get; } = Guid.NewGuid();

        public int Quantity { get; private init; }

        public System.Text.Json.JsonElement Data { get; private init; }

        /// <summary>Deliveries in order; the members of one group run at the same time. True = action.</summary>
        public List<List<bool>> Groups { get; } = [];

        public int Compensations => Groups.Sum(g => g.Count(a => !a));

        public List<object?> ActionReplies { get; } = [];

        public List<object?> CompensationReplies { get; } = [];

        public static Script Generate(Anomaly anomaly, Random random, string sku)
        {
            var quantity = random.Next(1, 4);
            var script = new Script { Quantity = quantity, Data = Orders.Data(sku: sku, quantity: quantity) };
            var (first, actions, compensations) = anomaly switch
            {
                Anomaly.DuplicateRequest => (true, random.Next(1, 4), random.Next(0, 3)),
                Anomaly.NullCompensation => (false, 0, random.Next(0, 3)),
                _ => (false, random.Next(1, 4), random.Next(0, 3)),
            };
            var rest = Enumerable.Repeat(true, actions).Concat(Enumerable.Repeat(false, compensations)).OrderBy(_ => random.Next()).ToList();

            // The first delivery sometimes races the next one, which is the concurrent-duplicate case.
            var queue = new Queue<bool>([first, .. rest]);
            while (queue.Count > 0)
            {
                var size = Math.Min(queue.Count, random.Next(4) == 0 ? 2 : 1);
                script.Groups.Add(Enumerable.Range(0, size).Select(_ => queue.Dequeue()).ToList());
            }

            return script;
        }

        /// <summary>Checks the replies agree with each other and with the order of delivery; returns whether the action took effect.</summary>
        public bool CheckReplies(int seed)
        {
            Assert.All(CompensationReplies, r => Assert.IsType<StepCompensated>(r));
            if (ActionReplies.Count == 0)
            {
                return false;
            }

            var succeeded = ActionReplies[0] is StepSucceeded;
            foreach (var reply in ActionReplies)
            {
                if (succeeded)
                {
                    Assert.IsType<StepSucceeded>(reply);
                }
                else
                {
                    Assert.Contains("refused", Assert.IsType<StepFailed>(reply).Reason, StringComparison.Ordinal);
                }
            }

            // When the first delivery ran alone, it alone decides the outcome.
            if (Groups[0].Count == 1)
            {
                Assert.True(Groups[0][0] == succeeded, $"saga {SagaId} (seed {seed}): first delivery {(Groups[0][0] ? "action" : "compensation")} but action succeeded={succeeded}");
            }

            return succeeded;
        }
    }
}

public sealed class SqliteRandomInterleavingTests(SqliteParticipantFixture fixture, ITestOutputHelper output)
    : RandomInterleavingTests(fixture, output), IClassFixture<SqliteParticipantFixture>;

public sealed class PostgresRandomInterleavingTests(PostgresParticipantFixture fixture, ITestOutputHelper output)
    : RandomInterleavingTests(fixture, output), IClassFixture<PostgresParticipantFixture>;
