// Two cores: scenarios run one at a time so timeouts measure the coordinator, not CPU starvation.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
