"""The Kubernetes manifests: valid against the Kubernetes schemas (offline, strict), wired
together (labels, ports, ConfigMap keys, volumes), and their shell commands run with a
stand-in `poolbench` that records the command line each pod would run."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer.main
import yaml

from poolbench.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes these manifests are meant for, and the newest schema at hand.
VERSIONS = ("1.28.0", kubernetes_validate.latest_version())


def _docs() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                out.append((path, doc))
    return out


DOCS = _docs()


def _find(kind: str, name: str) -> dict[str, Any]:
    for _path, doc in DOCS:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in {DEPLOY}")


def _scenario() -> dict[str, str]:
    data: dict[str, str] = _find("ConfigMap", "poolbench-scenario")["data"]
    return data


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]["spec"]
    return pod


def _script(workload: dict[str, Any]) -> str:
    (container,) = _pod(workload)["containers"]
    command = container["command"]
    assert command[:2] == ["sh", "-c"]
    script: str = command[2]
    return script


def test_every_file_holds_known_kinds() -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for _p, doc in DOCS)
    assert kinds == [
        ("ConfigMap", "poolbench-scenario"),
        ("Deployment", "poolbench-consumer"),
        ("Job", "poolbench-load"),
        ("Job", "poolbench-merge"),
        ("Namespace", "poolbench"),
        ("PersistentVolumeClaim", "poolbench-results"),
        ("Service", "poolbench-sink"),
        ("Service", "poolbench-sink-pods"),
        ("StatefulSet", "poolbench-sink"),
    ]
    namespaced = [doc for _p, doc in DOCS if doc["kind"] != "Namespace"]
    assert {doc["metadata"]["namespace"] for doc in namespaced} == {"poolbench"}


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    for path, doc in DOCS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")


def test_the_load_job_is_indexed_with_one_pod_per_shard() -> None:
    job = _find("Job", "poolbench-load")
    spec = job["spec"]
    shards = int(_scenario()["LOAD_SHARDS"])
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == shards
    assert _pod(job)["restartPolicy"] == "Never"
    script = _script(job)
    assert '--shard "${JOB_COMPLETION_INDEX}/${LOAD_SHARDS}"' in script
    assert '--start-at-ns "$START_AT_NS"' in script


def test_sinks_sit_behind_the_service_the_consumers_use() -> None:
    sinks = _find("StatefulSet", "poolbench-sink")
    labels = sinks["spec"]["template"]["metadata"]["labels"]
    assert sinks["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert sinks["spec"]["replicas"] == int(_scenario()["SINK_SHARDS"])
    (container,) = _pod(sinks)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["smtp"] == int(_scenario()["SMTP_PORT"])
    for name in ("poolbench-sink", "poolbench-sink-pods"):
        service = _find("Service", name)
        assert service["spec"]["selector"].items() <= labels.items()
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] == "smtp"
        assert port["port"] == int(_scenario()["SMTP_PORT"])
    assert sinks["spec"]["serviceName"] == "poolbench-sink-pods"
    assert _scenario()["SMTP_HOST"] == "poolbench-sink"


def test_consumers_form_a_deployment_of_the_consumer_under_test() -> None:
    consumers = _find("Deployment", "poolbench-consumer")
    labels = consumers["spec"]["template"]["metadata"]["labels"]
    assert consumers["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert "exec poolbench consume" in _script(consumers)
    # The consumer's own settings come from the ConfigMap under its own variable names.
    for key in ("KAFKA_BROKERS", "KAFKA_TOPIC", "KAFKA_GROUP_ID", "SMTP_HOST", "SMTP_PORT"):
        assert key in _scenario()


def test_every_pod_reads_the_scenario_and_mounts_the_results_volume() -> None:
    for _path, doc in DOCS:
        if doc["kind"] not in ("Job", "Deployment", "StatefulSet"):
            continue
        pod = _pod(doc)
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": "poolbench-scenario"}}]
        for mount in container["volumeMounts"]:
            claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
            assert claim == "poolbench-results"
        # Every $VAR a command uses is in the ConfigMap, the container env or set by
        # Kubernetes (the job index, the host name) or by the script itself.
        own = {"JOB_COMPLETION_INDEX", "HOSTNAME", "ordinal", "out", "run", "d", "@"}
        env = {e["name"] for e in container.get("env", [])}
        used = set(re.findall(r"\$\{?([A-Za-z_@][A-Za-z0-9_]*)", _script(doc)))
        assert used <= set(_scenario()) | env | own, doc["metadata"]["name"]


def test_the_clock_offset_can_be_stated_where_manifests_are_written() -> None:
    for kind, name in (("Job", "poolbench-load"), ("StatefulSet", "poolbench-sink")):
        (container,) = _pod(_find(kind, name))["containers"]
        assert "POOLBENCH_CLOCK_OFFSET" in {e["name"] for e in container["env"]}


def _subcommand_flags(name: str) -> set[str]:
    group = typer.main.get_command(app)
    command = group.commands[name]  # type: ignore[attr-defined]
    return {opt for param in command.params for opt in param.opts if opt.startswith("--")}


@pytest.mark.parametrize(
    ("kind", "name", "subcommand"),
    [
        ("Job", "poolbench-load", "produce"),
        ("StatefulSet", "poolbench-sink", "sink"),
        ("Deployment", "poolbench-consumer", "consume"),
        ("Job", "poolbench-merge", "merge"),
    ],
)
def test_commands_parse_and_use_only_real_flags(kind: str, name: str, subcommand: str) -> None:
    script = _script(_find(kind, name))
    subprocess.run(["sh", "-n", "-c", script], check=True)
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", script))
    assert flags, script
    assert flags <= _subcommand_flags(subcommand)


def _run_script(workload: dict[str, Any], tmp_path: Path, extra_env: dict[str, str]) -> list[str]:
    """Run a pod's command with /results in `tmp_path` and a recording `poolbench`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    argv_file = tmp_path / "argv"
    fake = bin_dir / "poolbench"
    fake.write_text(
        f'#!/bin/sh\nfor a in "$@"; do echo "$a"; done > {shlex.quote(str(argv_file))}\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    results = tmp_path / "results"
    script = _script(workload).replace("/results", str(results))
    (container,) = _pod(workload)["containers"]
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        **_scenario(),
        **{e["name"]: e["value"] for e in container.get("env", [])},
        **extra_env,
    }
    subprocess.run(["sh", "-c", script], env=env, check=True, timeout=30)
    return argv_file.read_text().splitlines()


def test_a_load_pod_runs_its_shard(tmp_path: Path) -> None:
    argv = _run_script(_find("Job", "poolbench-load"), tmp_path, {"JOB_COMPLETION_INDEX": "1"})
    run = tmp_path / "results" / _scenario()["POOLBENCH_RUN_ID"]
    assert argv[0] == "produce"
    pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert pairs["--shard"] == f"1/{_scenario()['LOAD_SHARDS']}"
    assert pairs["--start-at-ns"] == _scenario()["START_AT_NS"]
    assert pairs["--bootstrap-servers"] == _scenario()["KAFKA_BROKERS"]
    assert pairs["--report"] == str(run / "load-1" / "load.json")
    assert (run / "load-1").is_dir()


def test_a_sink_pod_takes_its_ordinal_as_shard(tmp_path: Path) -> None:
    argv = _run_script(
        _find("StatefulSet", "poolbench-sink"), tmp_path, {"HOSTNAME": "poolbench-sink-1"}
    )
    assert argv[0] == "sink"
    pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert pairs["--shard"] == f"1/{_scenario()['SINK_SHARDS']}"
    assert pairs["--port"] == _scenario()["SMTP_PORT"]
    run = tmp_path / "results" / _scenario()["POOLBENCH_RUN_ID"]
    assert pairs["--record"] == str(run / "sink-1" / "sink.jsonl")


def test_the_merge_pod_merges_the_folders_that_exist(tmp_path: Path) -> None:
    run = tmp_path / "results" / _scenario()["POOLBENCH_RUN_ID"]
    for name in ("load-0", "load-1", "load-2", "sink-0", "sink-1"):
        (run / name).mkdir(parents=True)
    argv = _run_script(_find("Job", "poolbench-merge"), tmp_path, {})
    assert argv[0] == "merge"
    dirs = [a for a in argv[1:] if not a.startswith("--")][:5]
    assert dirs == [str(run / n) for n in ("load-0", "load-1", "load-2", "sink-0", "sink-1")]
    assert argv[argv.index("--out") + 1] == str(run / "merged")
    assert argv[argv.index("--max-clock-skew") + 1] == _scenario()["MAX_CLOCK_SKEW"]


def _option(subcommand: str, flag: str) -> Any:
    group = typer.main.get_command(app)
    command = group.commands[subcommand]  # type: ignore[attr-defined]
    for param in command.params:
        if flag in param.opts:
            return param
    raise AssertionError(f"poolbench {subcommand} has no {flag}")


def _listens_on(subcommand: str, argv: list[str], env: dict[str, str]) -> tuple[str, int]:
    """Where `poolbench <subcommand> argv` listens: a flag, else its variable, else the
    default (the consumer's from the settings table, the sink's from its options)."""
    given = dict(zip(argv[1::2], argv[2::2], strict=False))
    if subcommand == "consume":
        from poolbench.consumer.settings import spec_for

        values = []
        for name in ("metrics_host", "metrics_port"):
            spec = spec_for(name)
            raw = given.get(spec.flag, env.get(spec.env, spec.default))
            values.append(spec.read(raw, spec.flag))
        return str(values[0]), int(str(values[1]))
    assert subcommand == "sink"
    host = given.get("--host", _option("sink", "--host").default)
    return str(host), int(given.get("--port", _option("sink", "--port").default))


@pytest.mark.parametrize(
    ("kind", "name", "subcommand", "hostname"),
    [
        ("StatefulSet", "poolbench-sink", "sink", "poolbench-sink-0"),
        ("Deployment", "poolbench-consumer", "consume", "poolbench-consumer-7d9f-abcde"),
    ],
)
def test_every_port_a_manifest_exposes_is_one_the_container_listens_on(
    tmp_path: Path, kind: str, name: str, subcommand: str, hostname: str
) -> None:
    workload = _find(kind, name)
    argv = _run_script(workload, tmp_path, {"HOSTNAME": hostname})
    assert argv[0] == subcommand
    (container,) = _pod(workload)["containers"]
    env = {**_scenario(), **{e["name"]: e["value"] for e in container.get("env", [])}}
    host, port = _listens_on(subcommand, argv, env)
    # Reachable from other pods and from the kubelet's probes: not the pod's loopback.
    assert host not in ("127.0.0.1", "localhost", "::1"), host
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert set(ports.values()) == {port}
    for probe_name in ("livenessProbe", "readinessProbe"):
        probe = container.get(probe_name)
        if probe is None:
            continue
        target = (probe.get("httpGet") or probe.get("tcpSocket"))["port"]
        assert ports.get(target, target) == port, probe_name
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        assert int(annotations["prometheus.io/port"]) == port


def test_the_consumer_is_probed_on_its_health_endpoints() -> None:
    from poolbench.consumer.health import HEALTH_PATH, READY_PATH

    (container,) = _pod(_find("Deployment", "poolbench-consumer"))["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "metrics"}


def test_the_listening_address_is_read_as_the_consumer_reads_it() -> None:
    """A flag beats the variable, which beats the default; the default host reaches a
    container even where a manifest gives no --metrics-host."""
    host, port = _listens_on("consume", ["consume", "--metrics-port", "9400"], {})
    assert (host, port) == ("0.0.0.0", 9400)  # the default must reach a container
    host, port = _listens_on(
        "consume",
        ["consume", "--metrics-port", "9400"],
        {"POOLBENCH_METRICS_HOST": "127.0.0.1", "POOLBENCH_METRICS_PORT": "9500"},
    )
    assert (host, port) == ("127.0.0.1", 9400)
