"""A real `poolbench consume` process and a real Prometheus server, for the tests that
need the consumer's live /metrics: the Prometheus end-to-end test, `promtool check
metrics` and the dashboard's queries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.consumer.e2e import REPO_ROOT, unique, wait_until
from tests.deploy.tools import RULES, need_tool

ENV = {
    key: value
    for key, value in os.environ.items()
    if not key.startswith(("EMAIL_", "SMTP_", "KAFKA_", "POOLBENCH_"))
}
ENV["PYTHONPATH"] = str(REPO_ROOT)
JOB = "poolbench-consumer"  # the scrape job the rules expect (deploy/prometheus)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


class ConsumeProcess:
    """`poolbench consume` with its metrics on 127.0.0.1; stderr to a file."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        bootstrap: str,
        topic: str,
        dlq: str,
        smtp_port: int,
        extra: Sequence[str] = (),
    ) -> None:
        self.metrics_port = free_port()
        self.log = tmp_path / f"{unique('consume')}.log"
        self._log_file = self.log.open("wb")
        args = [
            "--kafka-brokers", bootstrap, "--kafka-topic", topic, "--dlq-topic", dlq,
            "--kafka-group", unique("group"), "--smtp-host", "127.0.0.1",
            "--smtp-port", str(smtp_port), "--metrics-host", "127.0.0.1",
            "--metrics-port", str(self.metrics_port), "--commit-interval", "200ms",
            "--retry-base", "10ms", "--retry-max", "50ms", *extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "poolbench", "consume", *args],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(
            lambda: "consumer ready" in self.output() or self.process.poll() is not None,
            timeout,
            "consumer ready",
        )
        assert self.process.poll() is None, self.output()

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed after 30 s)."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self._log_file.close()
        return code


@contextmanager
def consume_process(tmp_path: Path, **kwargs: Any) -> Iterator[ConsumeProcess]:
    consumer = ConsumeProcess(tmp_path, **kwargs)
    try:
        consumer.wait_ready()
        yield consumer
    finally:
        consumer.stop()


def fast_rules(tmp_path: Path, hold: str) -> Path:
    """The shipped rules with every alert's `for` set to `hold`: the same expressions,
    on a test's time scale (the durations themselves are promtool's to test)."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = hold
    path = tmp_path / RULES.name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class PrometheusServer:
    """Debian's prometheus on loopback with a temporary data folder, scraping `targets`
    as job `poolbench-consumer` every `interval`, evaluating `rules` as often."""

    def __init__(
        self, tmp_path: Path, *, targets: Sequence[str], rules: Path, interval: str
    ) -> None:
        binary = need_tool("prometheus")
        self.port = free_port()
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "scrape_timeout": interval,
                    "static_configs": [{"targets": list(targets)}],
                }
            ],
        }
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        data = tmp_path / "prometheus-data"
        data.mkdir()
        self.log = tmp_path / "prometheus.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            try:
                return "Ready" in http_get(f"{self.url}/-/ready", timeout=1)
            except (urllib.error.URLError, OSError):
                return False

        wait_until(ready, timeout, "prometheus ready")

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        doc = json.loads(http_get(f"{self.url}/api/v1/{path}{query}"))
        assert doc["status"] == "success", doc
        return doc["data"]

    def alert_states(self) -> dict[str, str]:
        """Active alerts by name: "pending" or "firing" (a resolved alert is not listed)."""
        return {a["labels"]["alertname"]: a["state"] for a in self.api("alerts")["alerts"]}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log_file.close()


@contextmanager
def prometheus_server(tmp_path: Path, **kwargs: Any) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path, **kwargs)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def poll(seconds: float) -> Iterator[float]:
    """Yield the elapsed time every 0.25 s until `seconds` have passed."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        yield elapsed
        time.sleep(0.25)
