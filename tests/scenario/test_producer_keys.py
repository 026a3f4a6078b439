"""`load.compression` and `load.producer`, and what the runner derives from them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from poolbench.errors import ScenarioError
from poolbench.scenario import (
    effective_compression,
    expand,
    load_profile,
    load_scenario,
    parse_scenario,
    retention_warning,
)


def _scenario(**sections: Any) -> dict[str, Any]:
    return {"name": "t", **sections}


def test_defaults_and_canonical_form() -> None:
    scenario = parse_scenario(_scenario())
    assert scenario.load.compression == "auto"
    assert dict(scenario.load.producer) == {}
    doc = scenario.to_dict()
    assert doc["load"]["compression"] == "auto"
    assert doc["load"]["producer"] == {}
    assert parse_scenario(doc) == scenario


def test_keys_at_their_defaults_leave_the_hash_as_it_was() -> None:
    # A scenario that does not mention the newer keys hashes as one that writes their
    # defaults, so baselines saved before the keys existed still match.
    plain = parse_scenario(_scenario())
    explicit = parse_scenario(
        _scenario(
            load={"compression": "auto", "producer": {}},
            sink={"engine": "fast"},
            allow={"lost": 0, "duplicates": 0},
        )
    )
    assert plain.scenario_hash == explicit.scenario_hash
    assert set(plain.to_dict()) >= {"allow"}
    assert parse_scenario(_scenario(load={"compression": "lz4"})).scenario_hash != (
        plain.scenario_hash
    )


def test_file_form_reads_producer_settings(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(
        "name: s\nload:\n  compression: zstd\n"
        "  producer: {linger.ms: 5, enable.idempotence: true}\n"
    )
    scenario = load_scenario(file)
    assert scenario.load.compression == "zstd"
    assert dict(scenario.load.producer) == {"linger.ms": "5", "enable.idempotence": "true"}
    assert parse_scenario(scenario.to_dict()).load == scenario.load


@pytest.mark.parametrize(
    ("load", "key", "message"),
    [
        ({"compression": "brotli"}, "load.compression", "expected one of auto, none, gzip"),
        ({"compression": 4}, "load.compression", "expected one of"),
        ({"producer": "linger.ms=5"}, "load.producer", "expected a mapping"),
        (
            {"producer": {"bootstrap.servers": "x:1"}},
            "load.producer.bootstrap.servers",
            "set by poolbench",
        ),
        (
            {"producer": {"compression.type": "gzip"}},
            "load.producer.compression.type",
            "compression setting",
        ),
        ({"producer": {"linger.ms": [5]}}, "load.producer.linger.ms", "string, number or bool"),
        ({"producer": {"linger.ms": None}}, "load.producer.linger.ms", "string, number or bool"),
        ({"producer": {"lingr.ms": 5}}, "load.producer.lingr.ms", "No such configuration"),
        ({"producer": {"batch.size": -5}}, "load.producer.batch.size", "outside allowed range"),
        ({"compresion": "lz4"}, "load.compresion", "did you mean 'compression'"),
    ],
)
def test_bad_values_name_their_key(load: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        parse_scenario(_scenario(load=load))
    assert info.value.key == key


def test_compression_and_the_producer_mapping_can_be_swept() -> None:
    scenario = parse_scenario(
        _scenario(
            sweep={
                "load.compression": ["none", "lz4"],
                "load.producer": [{"linger.ms": 0}, {"linger.ms": 20}],
            }
        )
    )
    points = expand(scenario)
    assert [p.scenario.load.compression for p in points] == ["none", "lz4"]
    assert [dict(p.scenario.load.producer) for p in points] == [
        {"linger.ms": "0"},
        {"linger.ms": "20"},
    ]


def test_auto_is_lz4_for_our_consumer_and_none_for_a_foreign_one() -> None:
    ours = parse_scenario(_scenario())
    foreign = parse_scenario(_scenario(consumer={"command": "go run ./svc"}))
    assert effective_compression(ours) == "lz4"
    assert effective_compression(foreign) == "none"
    chosen = parse_scenario(_scenario(consumer={"command": "svc"}, load={"compression": "gzip"}))
    assert effective_compression(chosen) == "gzip"


def test_load_profile_is_typed_and_loops() -> None:
    assert load_profile(parse_scenario(_scenario()).load) is None
    fixed = load_profile(parse_scenario(_scenario(load={"rate": "1234567.5/s"})).load)
    assert fixed is not None
    assert fixed.rate_at(3) == 1234567.5
    steps = [{"rate": 10, "duration": 1}, {"rate": 20, "duration": 1}]
    looped = load_profile(
        parse_scenario(_scenario(load={"rate": steps, "warmup": 0, "duration": 5})).load
    )
    assert looped is not None
    assert [looped.rate_at(t + 0.5) for t in range(6)] == [10, 20, 10, 20, 10, 20]
    assert math.isinf(looped.segments[-1].duration)


def test_retention_warning_follows_the_estimated_bytes_per_partition() -> None:
    base: dict[str, Any] = {"duration_s": 25.0, "message_bytes": 350, "partitions": 8}
    # 1000/s x 25 s over 8 partitions: ~1.5 MB each, uncompressed: fine.
    assert retention_warning(rate_per_s=1000, count=None, compression="none", **base) is None
    # 5000/s: ~7.7 MB per partition uncompressed: too much; lz4 makes it fit.
    warning = retention_warning(rate_per_s=5000, count=None, compression="none", **base)
    assert warning is not None
    assert "MiB per partition" in warning
    assert "compression lz4" in warning
    assert retention_warning(rate_per_s=5000, count=None, compression="lz4", **base) is None
    # A count bounds the load below what the rate would make.
    assert retention_warning(rate_per_s=5000, count=20_000, compression="none", **base) is None
    assert retention_warning(rate_per_s=None, count=None, compression="none", **base) is None
    big = retention_warning(rate_per_s=None, count=10_000_000, compression="lz4", **base)
    assert big is not None
    assert "more partitions" in big
    # Slow but long: one message per batch, past the 100k batches a partition keeps.
    slow = retention_warning(
        rate_per_s=100,
        count=None,
        duration_s=1200,
        message_bytes=10,
        partitions=1,
        compression="lz4",
    )
    assert slow is not None
    assert "batches" in slow
