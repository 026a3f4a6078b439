"""Who was busy: the harness and consumer verdicts over known role figures."""

from __future__ import annotations

from poolbench.run.harness import RoleUse, harness_verdict


def use(cpu: float, processes: int = 1) -> RoleUse:
    return RoleUse(cpu_percent=cpu, processes=processes, samples=10, mean_rss_mb=1, peak_rss_mb=1)


def test_a_quiet_harness_and_an_idle_consumer_say_nothing() -> None:
    roles = {"machine": use(60), "sink": use(20), "consumer": use(30)}
    verdict = harness_verdict(roles, cores=2, throughput_share=0.95)
    assert verdict == harness_verdict(roles, cores=2, throughput_share=0.5)
    assert not verdict.saturated
    assert verdict.warnings == ()


def test_a_saturated_sink_is_named_and_blamed_when_the_point_fell_short() -> None:
    roles = {"machine": use(120), "sink": use(190, processes=2), "consumer": use(30)}
    verdict = harness_verdict(roles, cores=2, throughput_share=0.6)
    assert verdict.saturated
    assert verdict.warnings[0].startswith("sink saturated: 190% CPU over 2 process(es)")
    assert "the harness set this figure: throughput is 60%" in verdict.warnings[1]


def test_a_busy_machine_lists_every_part_busiest_first() -> None:
    roles = {"machine": use(180), "sink": use(40), "consumer": use(70), "loadgen": use(5)}
    verdict = harness_verdict(roles, cores=2, throughput_share=1.0)
    assert verdict.saturated
    assert verdict.warnings == (
        "machine busy 180% of 200% (> 85% of 2 cores): consumer 70%, sink 40%, loadgen 5%",
    )


def test_a_cpu_bound_consumer_short_of_its_ideal_is_named_but_is_not_the_harness() -> None:
    roles = {"machine": use(160), "sink": use(40, processes=2), "consumer": use(88)}
    verdict = harness_verdict(roles, cores=2, throughput_share=0.29)
    assert not verdict.saturated  # the consumer is what is measured, not the harness
    assert verdict.warnings == (
        "consumer CPU-bound: 88% of a core per process (> 80%), at 29% of the ideal: "
        "its own CPU, not its workers or the SMTP latency, set this figure",
    )
    # Two instances at 88% together are 44% each: not bound.
    two = {**roles, "consumer": use(88, processes=2)}
    assert harness_verdict(two, cores=2, throughput_share=0.29).warnings == ()
    # A consumer that reached its ideal is not short of anything.
    assert harness_verdict(roles, cores=2, throughput_share=0.95).warnings == ()
