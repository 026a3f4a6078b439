"""LoadSpec and LoadReport across a process boundary: typed JSON, validated."""

from __future__ import annotations

import json
import math
from array import array
from typing import Any

import pytest

from poolbench.errors import ConfigError
from poolbench.loadgen import LoadReport, LoadSpec
from poolbench.loadgen.schedule import (
    MAX_PROFILE,
    constant,
    parse_profile,
    profile_from_dict,
    profile_to_dict,
    steps_profile,
)
from poolbench.loadgen.spec import check_producer_settings, librdkafka_setting_error


@pytest.mark.parametrize(
    "rate",
    [
        "max",
        "500/s",
        "ramp:100/s:2000/s:30s",
        "steps:100/s:10s,500/s:10s",
        "burst:500/s:5000/s:10s:2s",
        "burst:500/s:5000/s:0s:2s",
    ],
)
def test_spec_round_trips_with_every_profile(rate: str) -> None:
    spec = LoadSpec(
        topic="q",
        rate=rate,
        count=10,
        duration=2.5,
        keys="hot:0.9:5:50",
        templates="plain:1,welcome:2.5",
        priorities="high:1,normal:8",
        data_bytes=7,
        poison=0.01,
        seed=4,
        id_nonce=99,
        compression="gzip",
        producer={"linger.ms": "5", "enable.idempotence": "true"},
    )
    text = spec.to_json()
    back = LoadSpec.from_json(text)
    assert back == spec
    assert back.profile.segments == parse_profile(rate).segments
    assert dict(back.producer) == {"linger.ms": "5", "enable.idempotence": "true"}
    # The profile crosses as numbers, not as text to parse again.
    assert isinstance(json.loads(text)["rate"]["segments"], list)


def test_saturate_crosses_as_max_with_its_backlog() -> None:
    spec = LoadSpec(rate="saturate", group="g", duration=3)
    back = LoadSpec.from_json(spec.to_json())
    assert back.profile.is_max
    assert (back.backlog, back.group) == (2000, "g")


def test_exact_rates_survive_where_text_would_round() -> None:
    profile = steps_profile([(1234567.891, 0.25), (3.5, 1.0)])
    spec = LoadSpec(rate=profile, count=1)
    back = LoadSpec.from_json(spec.to_json())
    assert back.profile == profile
    assert back.profile.segments[0].start == 1234567.891


def test_steps_profile_loops_to_cover_a_duration() -> None:
    profile = steps_profile([(10.0, 1.0), (50.0, 2.0)], cover_s=7.0)
    rates = [(s.start, s.duration) for s in profile.segments]
    assert rates == [(10.0, 1.0), (50.0, 2.0)] * 3 + [(50.0, math.inf)]
    assert profile.expected_count(9.0) == pytest.approx(3 * (10 + 100))
    assert steps_profile([(5.0, 1.0)]).segments[-1] == constant(5.0).segments[0]
    for bad in ([], [(0.0, 1.0)], [(5.0, 0.0)], [(math.inf, 1.0)]):
        with pytest.raises(ConfigError) as caught:
            steps_profile(bad)
        assert caught.value.what == "rate"


def test_profile_dicts_are_validated() -> None:
    assert profile_from_dict(profile_to_dict(MAX_PROFILE)) == MAX_PROFILE
    good = profile_to_dict(parse_profile("ramp:1/s:5/s:2s"))
    for doc, fragment in [
        ({"segments": []}, "text, segments"),
        ({"text": "x", "segments": []}, "must be 'max'"),
        ({**good, "segments": good["segments"][:1]}, "only the last segment"),
        (
            {**good, "segments": [{**good["segments"][0], "start": -1}, good["segments"][1]]},
            r"segments\[0\]\.start",
        ),
        ({**good, "segments": [{"duration": None, "start": 1}]}, "duration, start, end"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            profile_from_dict(doc)


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(LoadSpec(count=5).to_json())
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({**_doc(), "extra": 1}, "unknown keys"),
        ({k: v for k, v in _doc().items() if k != "seed"}, "missing keys"),
        (_doc(count="5"), "count"),
        (_doc(seed=True), "seed"),
        (_doc(templates={"names": ["nope"], "weights": [1]}), "unknown name"),
        (_doc(templates={"names": ["plain"], "weights": []}), "as many weights"),
        (_doc(producer={"linger.ms": 5}), "must be strings"),
        (_doc(producer={"bootstrap.servers": "x"}), "bootstrap.servers"),
        (_doc(compression="brotli"), "one of none, gzip"),
        (_doc(count=None, duration=None), "bound the run"),
    ],
)
def test_bad_spec_json_is_a_config_error(doc: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        LoadSpec.from_json(json.dumps(doc))


def test_not_json_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        LoadSpec.from_json("{")
    with pytest.raises(ConfigError, match="expected an object"):
        LoadSpec.from_json("[]")


def test_producer_settings_refuse_what_poolbench_owns() -> None:
    assert check_producer_settings({"linger.ms": 5, "acks": "1", "x": False}) == {
        "linger.ms": "5",
        "acks": "1",
        "x": "false",
    }
    for key, fragment in [
        ("bootstrap.servers", "cannot be overridden"),
        ("delivery.report.only.error", "cannot be overridden"),
        ("compression.type", "compression setting"),
    ]:
        with pytest.raises(ConfigError, match=fragment) as caught:
            check_producer_settings({key: "x"})
        assert key in str(caught.value)
    with pytest.raises(ConfigError, match="expected a string, number or boolean"):
        check_producer_settings({"linger.ms": [5]})


def test_librdkafka_names_the_setting_it_refuses() -> None:
    assert librdkafka_setting_error({"linger.ms": "5", "batch.size": "1000"}) is None
    unknown = librdkafka_setting_error({"linger.ms": "5", "lingr.ms": "5"})
    assert unknown is not None
    assert unknown[0] == "lingr.ms"
    assert "No such configuration property" in unknown[1]
    out_of_range = librdkafka_setting_error({"batch.size": "-5"})
    assert out_of_range is not None
    assert out_of_range[0] == "batch.size"


def test_report_keeps_acks_and_failures_exactly() -> None:
    report = LoadReport(
        spec={},
        partitions=2,
        produced=4,
        acknowledged=2,
        delivery_errors=1,
        first_error="boom",
        elapsed_s=1.0,
        send_elapsed_s=1.0,
        achieved_rate=2.0,
        send_rate=4.0,
        target_rate=None,
        schedule_lag_ms={"avg": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0},
        first_offsets={0: 7, 1: 0},
        poison={},
        poison_ids=(),
        id_prefix="0123456789ab-cdef-4012-8",
        backlog_max=None,
        stopped_early=False,
        start_wall_ns=1,
        acked_seq=array("q", [2, 0]),
        acked_partition=array("q", [1, 0]),
        acked_offset=array("q", [0, 7]),
        failed_seq=array("q", [3]),
    )
    back = LoadReport.from_json(report.to_json())
    assert back == report
    assert list(back.acked()) == [
        ("0123456789ab-cdef-4012-8000000000002", 1, 0),
        ("0123456789ab-cdef-4012-8000000000000", 0, 7),
    ]
    assert back.failed_ids() == {"0123456789ab-cdef-4012-8000000000003"}
    assert back.unconfirmed_seq() == [1]
    with pytest.raises(ConfigError, match="differ in length"):
        LoadReport.from_dict({**report.to_dict(), "acked_offset": [0]})
    with pytest.raises(ConfigError, match="missing or unexpected"):
        LoadReport.from_json(json.dumps({"produced": 1}))
