"""Fixtures for the foreign consumers: their binaries, and processes stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.examples.harness import ConsumerProcess, go_service_binary, kafkajs_entry

Spawn = Callable[..., ConsumerProcess]


@pytest.fixture(scope="session")
def go_service() -> Path:
    return go_service_binary()


@pytest.fixture(scope="session")
def kafkajs() -> Path:
    return kafkajs_entry()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """`spawn(argv, env=None)` -> a started ConsumerProcess; every one is killed at teardown."""
    started: list[ConsumerProcess] = []

    def start(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ConsumerProcess:
        log_path = tmp_path / f"consumer-{len(started)}.log"
        process = ConsumerProcess(argv, log_path, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
