"""Ours beside the seed's Go service: one command for the side-by-side table (issue 24).

    python3 benchmarks/vs_go.py                        # the issue's sweep, 3 runs each
    python3 benchmarks/vs_go.py --workers 5 --latency 50ms --repeats 1 \\
        --warmup 1s --duration 2s                      # a smoke check (no figures to keep)

For every repeat it runs two `poolbench run` sweeps back to back (their order alternates
from repeat to repeat, so drift spreads evenly): poolbench's consumer over workers x SMTP
latency x connection mode (new connection per email, kept connections), and the Go
service (`examples/go-service`, built here when its binary is missing; it only has the
new-connection mode) over workers x latency. Same embedded broker kind, same sink, same
saturating load, same buffer. Each figure of the table is the median over the repeats:
throughput, its share of workers / latency, the per-email budget (connect, handshake,
client, sink, after the reply), the consumer's and the sink's loop lag (p99, from the
point's budget; "n/a" where the consumer does not report one, as the Go service), and
the consumer's CPU. The header gives the command, the date and the load average before
and after: on a busy machine the figures are not quiet-machine figures.

Run it on a quiet machine: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poolbench.results import PointResult, load  # noqa: E402

GO_BINARY = ROOT / "examples" / "go-service" / "bin" / "email-service"
GO_BUILD = ROOT / "examples" / "go-service" / "build.sh"
GO_COMMAND = (
    f"{GO_BINARY} -workers {{workers}} -buffer {{buffer}} -kafka-brokers {{bootstrap}} "
    "-kafka-topic {topic} -smtp-host {smtp_host}"
)
# (label, connection_reuse) of the rows; the Go service opens a connection per email.
GO = "Go service"
OURS_NEW = "poolbench, new connection"
OURS_KEPT = "poolbench, kept connections"


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    workers: tuple[int, ...]
    latencies: tuple[str, ...]
    modes: tuple[str, ...]  # "new", "kept"
    repeats: int
    warmup: str
    duration: str
    buffer: int
    partitions: int
    out: Path


def scenario_yaml(opts: Options, *, go: bool) -> str:
    """A grid over workers x latency (x connection mode for ours), saturating load."""
    lines = [
        f"name: vs-go-{'go' if go else 'ours'}",
        "broker: embedded",
        f"topic: {{name: email-queue, partitions: {opts.partitions}}}",
        f"sink: {{latency: {opts.latencies[0]}}}",
    ]
    if go:
        lines += [
            "consumer:",
            f"  workers: {opts.workers[0]}",
            f"  buffer: {opts.buffer}",
            f"  command: {GO_COMMAND}",
            '  env: {KAFKA_GROUP_ID: "{group}", SMTP_PORT: "{smtp_port}"}',
        ]
    else:
        lines.append(f"consumer: {{workers: {opts.workers[0]}, buffer: {opts.buffer}}}")
    lines += [
        f"load: {{rate: saturate, duration: {opts.duration}, warmup: {opts.warmup}}}",
        "sweep:",
        "  mode: grid",
        f"  consumer.workers: [{', '.join(map(str, opts.workers))}]",
        f"  sink.latency: [{', '.join(opts.latencies)}]",
    ]
    if not go:
        reuse = [{"new": "false", "kept": "true"}[m] for m in opts.modes]
        lines.append(f"  consumer.connection_reuse: [{', '.join(reuse)}]")
    return "\n".join(lines) + "\n"


def run_sweep(opts: Options, *, go: bool, repeat: int) -> list[PointResult]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(scenario_yaml(opts, go=go))
        path = Path(handle.name)
    out = opts.out / f"repeat-{repeat}-{'go' if go else 'ours'}"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "poolbench", "run", "-q", "--out", str(out), str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        path.unlink()
    folder = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if not folder or not Path(folder).is_dir():
        sys.exit(f"vs_go: poolbench run failed (exit {done.returncode}): {done.stderr.strip()}")
    if done.returncode != 0:
        print(f"vs_go: note: poolbench run exit {done.returncode} ({folder})", file=sys.stderr)
    return list(load(Path(folder)).points)


def row_of(point: PointResult, *, go: bool) -> tuple[int, str, str]:
    params = point.params
    workers = int(str(params["consumer.workers"]))
    latency = str(params["sink.latency"])
    if go:
        return workers, latency, GO
    return workers, latency, OURS_KEPT if params.get("consumer.connection_reuse") else OURS_NEW


Figure = Callable[[PointResult], float | None]


def _budget(name: str) -> Figure:
    def read(point: PointResult) -> float | None:
        budget = point.budget_ms
        return None if budget is None else getattr(budget, name)

    return read


def _share(point: PointResult) -> float | None:
    tput, ideal = point.throughput_per_s, point.ideal_throughput_per_s
    return None if tput is None or ideal is None or ideal <= 0 else 100.0 * tput / ideal


def _sink(point: PointResult) -> float | None:
    budget = point.budget_ms
    return None if budget is None else budget.server_ms


COLUMNS: tuple[tuple[str, Figure, str], ...] = (
    ("throughput /s", lambda p: p.throughput_per_s, "{:,.0f}"),
    ("of workers / latency", _share, "{:.0f}%"),
    ("connect ms", _budget("connect_ms"), "{:.2f}"),
    ("handshake ms", _budget("handshake_ms"), "{:.2f}"),
    ("client ms", _budget("client_ms"), "{:.2f}"),
    ("sink ms", _sink, "{:.2f}"),
    ("after the reply ms", _budget("after_ms"), "{:.2f}"),
    ("consumer loop lag p99 ms", _budget("consumer_lag_p99_ms"), "{:.2f}"),
    ("sink loop lag p99 ms", _budget("sink_lag_p99_ms"), "{:.2f}"),
    ("consumer CPU", lambda p: p.cpu_percent, "{:.0f}%"),
)


def median_cell(points: Sequence[PointResult], figure: Figure, fmt: str) -> str:
    values = [v for v in (figure(p) for p in points if p.error is None) if v is not None]
    return fmt.format(statistics.median(values)) if values else "n/a"


def table(cells: dict[tuple[int, str, str], list[PointResult]], opts: Options) -> str:
    head = ["workers", "latency", "consumer", "runs", *(name for name, _, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    order = {GO: 0, OURS_NEW: 1, OURS_KEPT: 2}
    for key in sorted(cells, key=lambda k: (k[0], k[1], order[k[2]])):
        points = cells[key]
        ok = [p for p in points if p.error is None]
        row = [str(key[0]), key[1], key[2], f"{len(ok)}/{len(points)}"]
        row += [median_cell(points, figure, fmt) for _, figure, fmt in COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def parse(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,5,10,20,60,100", help="comma-separated")
    parser.add_argument("--latency", default="50ms,100ms", help="comma-separated sink latencies")
    parser.add_argument("--modes", default="new,kept", help="ours: new and/or kept")
    parser.add_argument("--repeats", type=int, default=3, help="runs per point (the median)")
    parser.add_argument("--warmup", default="3s")
    parser.add_argument("--duration", default="10s", help="measured window per point")
    parser.add_argument("--buffer", type=int, default=0, help="queue slots (0: 2 x max workers)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "vs-go")
    args = parser.parse_args(argv)
    workers = tuple(int(w) for w in args.workers.split(","))
    modes = tuple(m.strip() for m in args.modes.split(","))
    if any(m not in ("new", "kept") for m in modes) or not modes:
        parser.error(f"--modes: new and/or kept, got {args.modes!r}")
    if args.repeats < 1 or min(workers) < 1:
        parser.error("--repeats and --workers must be at least 1")
    return Options(
        workers=workers,
        latencies=tuple(x.strip() for x in args.latency.split(",")),
        modes=modes,
        repeats=args.repeats,
        warmup=args.warmup,
        duration=args.duration,
        buffer=args.buffer or 2 * max(workers),
        partitions=args.partitions,
        out=args.out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    if not GO_BINARY.exists():
        subprocess.run([str(GO_BUILD)], check=True)
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    cells: dict[tuple[int, str, str], list[PointResult]] = defaultdict(list)
    for repeat in range(opts.repeats):
        for go in (False, True) if repeat % 2 == 0 else (True, False):
            for point in run_sweep(opts, go=go, repeat=repeat):
                cells[row_of(point, go=go)].append(point)
    load_after = os.getloadavg()
    print(f"`python3 benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`".rstrip())
    print()
    print(
        f"{started}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{os.cpu_count()} cores; saturating load, {opts.warmup} warm-up + {opts.duration} "
        f"measured, buffer {opts.buffer}, median of {opts.repeats} run(s) per point."
    )
    print()
    print(table(cells, opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
