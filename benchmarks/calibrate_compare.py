"""Calibrate `poolbench compare` on this machine: its false-alarm and detection rates.

    # A = B: the same commit on both sides, N compares
    python3 benchmarks/calibrate_compare.py same --compares 20
    # B slowed by a per-email delay of 10% (20%) of the measured time per email
    python3 benchmarks/calibrate_compare.py slow --fraction 0.10 --compares 10
    # both, interleaved in time (what the README's figures come from)
    python3 benchmarks/calibrate_compare.py mix --same 20 --slow 0.10:8 --slow 0.20:6
    # the rates again from stored compares, also with fewer repeats or another alpha;
    # --simulate: other repeat counts, resampling the A = B compares' measured noise
    python3 benchmarks/calibrate_compare.py rates results/calibration/same-*/ --alpha 0.1

Each compare is one `pbt python3 -m poolbench compare ...` process (pbt, where installed,
lets quiet measurements run in between: a compare waits while one is wanted or running).
The load average before each compare and the machines' CPU during it are recorded.
`slow` first measures side A's throughput (a `poolbench run` of the scenario, 3 repeats)
and sets POOLBENCH_DEBUG_DELAY = fraction x workers / throughput for side B; the drop it
actually caused (the median of the compares' throughput change) is printed with the rates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poolbench.gates.verdict import BY_NAME, METRIC_NAMES, Verdict, judge  # noqa: E402

SCENARIO = ROOT / "scenarios" / "compare.yaml"
# The metric each kind of compare changes on purpose ("none": A = B).
_EXPECT = {"same": "none", "slow": "throughput", "burn": "cpu_us_per_email"}


def _prefix() -> list[str]:
    pbt = shutil.which("pbt")
    return [pbt] if pbt else []


def _loadavg() -> float:
    return os.getloadavg()[0]


def _compare(
    out: Path,
    *,
    scenario: Path,
    a: str,
    b: str,
    repeats: int,
    seed: int,
    b_env: list[str],
    extra: list[str],
) -> dict[str, Any]:
    argv = [
        *_prefix(),
        sys.executable,
        "-m",
        "poolbench",
        "compare",
        str(scenario),
        "--a",
        a,
        "--b",
        b,
        "--repeats",
        str(repeats),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--quiet",
        *[f"--b-env={item}" for item in b_env],
        *extra,
    ]
    load_before = _loadavg()
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    folder = Path(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    doc: dict[str, Any] = {}
    if folder is not None and (folder / "compare.json").is_file():
        doc = json.loads((folder / "compare.json").read_text())
    return {
        "exit": done.returncode,
        "wall_s": wall,
        "load_before": load_before,
        "folder": None if folder is None else str(folder),
        "stderr_tail": done.stderr.strip().splitlines()[-3:],
        "compare": doc,
    }


def _measure_time_per_email(scenario: Path, out: Path) -> tuple[float, float, int, float]:
    """(seconds per email per worker, throughput, workers, consumer CPU µs per email) from
    a `poolbench run` (tried again, up to 3 times, when it measured nothing)."""
    for _attempt in range(3):
        found = _pilot(scenario, out)
        if found is not None:
            return found
    raise SystemExit("the pilot run measured nothing three times")


def _pilot(scenario: Path, out: Path) -> tuple[float, float, int, float] | None:
    done = subprocess.run(
        [
            *_prefix(),
            sys.executable,
            "-m",
            "poolbench",
            "run",
            str(scenario),
            "--repeats",
            "3",
            "--quiet",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if not lines or not (Path(lines[-1]) / "results.json").is_file():
        print(f"pilot run failed: {done.stderr.strip()[-300:]}", flush=True)
        return None
    doc = json.loads((Path(lines[-1]) / "results.json").read_text())
    rates = [p["throughput_per_s"] for p in doc["points"] if p["throughput_per_s"]]
    if not rates:
        return None
    workers = int(doc["scenario"]["consumer"]["workers"])
    rate = statistics.median(rates)
    cpus = [p["cpu_us_per_email"] for p in doc["points"] if p.get("cpu_us_per_email")]
    return workers / rate, rate, workers, statistics.median(cpus) if cpus else math.nan


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a rate (95% by default): honest at 0 of n."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _rate(hits: int, n: int) -> str:
    low, high = wilson(hits, n)
    return f"{hits}/{n} (95% {100 * low:.0f}-{100 * high:.0f}%)"


def _verdicts(
    doc: dict[str, Any], *, repeats: int | None, alpha: float, min_effect: float
) -> dict[str, str]:
    """Per metric: the verdict of the first point, recomputed (fewer repeats, other alpha)."""
    point = doc["points"][0]
    out = {}
    for name in METRIC_NAMES:
        m = point["metrics"][name]
        a = [math.nan if v is None else v for v in m["a"]]
        b = [math.nan if v is None else v for v in m["b"]]
        if repeats is not None:
            a, b = a[:repeats], b[:repeats]
        out[name] = str(judge(BY_NAME[name], a, b, alpha=alpha, min_effect=min_effect).verdict)
    if point["problems"]:
        out["loss"] = "; ".join(point["problems"])
    return out


def _rates(
    records: list[dict[str, Any]],
    *,
    repeats: int | None,
    alpha: float,
    min_effect: float,
    expect: str,
) -> None:
    usable = [r for r in records if r["compare"].get("points")]
    if not usable:
        print("no finished compares")
        return
    print(
        f"{len(usable)} compares ({len(records) - len(usable)} did not finish); "
        f"repeats {repeats or usable[0]['compare']['repeats']} per side, alpha {alpha:g}, "
        f"min-effect {min_effect:.0%}"
    )
    for name in METRIC_NAMES:
        verdicts = [
            _verdicts(r["compare"], repeats=repeats, alpha=alpha, min_effect=min_effect)[name]
            for r in usable
        ]
        worse = sum(v == str(Verdict.WORSE) for v in verdicts)
        better = sum(v == str(Verdict.BETTER) for v in verdicts)
        changes = [r["compare"]["points"][0]["metrics"][name]["change"] for r in usable]
        med = statistics.median([c for c in changes if c is not None] or [math.nan])
        what = "detected (worse)" if name == expect else "worse"
        print(
            f"  {name:16s} {what}: {_rate(worse, len(usable))}, better: "
            f"{_rate(better, len(usable))}, median change {100 * med:+.1f}%"
        )
    loss = sum(bool(r["compare"]["points"][0]["problems"]) for r in usable)
    any_alarm = sum(
        any(
            v == str(Verdict.WORSE)
            for k, v in _verdicts(
                r["compare"], repeats=repeats, alpha=alpha, min_effect=min_effect
            ).items()
            if k != "loss"
        )
        for r in usable
    )
    print(
        f"  any metric worse: {_rate(any_alarm, len(usable))}; loss or duplicates: "
        f"{loss}/{len(usable)}"
    )
    walls = [r["wall_s"] for r in usable]
    loads = [r["load_before"] for r in usable]
    machine = [
        s["machine_cpu_percent"]
        for r in usable
        for s in r["compare"]["sides"]
        if s.get("machine_cpu_percent") is not None
    ]
    print(
        f"  wall per compare: median {statistics.median(walls):.0f} s (max {max(walls):.0f} s, "
        "with any wait for quiet measurements); "
        f"load average before: median {statistics.median(loads):.2f} (max {max(loads):.2f}); "
        f"machine CPU during (of 200%): median {statistics.median(machine or [math.nan]):.0f}%"
    )


def _mix(args: argparse.Namespace) -> None:
    """Every kind of compare spread evenly over the session, so that the machine's load
    at the time falls on all of them alike; one calibration.json per kind."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    root = args.out / f"mix-{stamp}"
    kinds: list[tuple[str, list[str], int]] = [("same", [], args.same)]
    slow = [(float(f), int(n)) for f, n in (item.split(":") for item in args.slow)]
    burn = [(float(f), int(n)) for f, n in (item.split(":") for item in args.burn)]
    docs: dict[str, dict[str, Any]] = {"same": {"mode": "same", "argv": sys.argv, "records": []}}
    if slow or burn:
        per_email, rate, workers, cpu_us = _measure_time_per_email(args.scenario, root / "pilot")
        print(
            f"pilot: {rate:.1f}/s with {workers} workers = {1000 * per_email:.2f} ms per email",
            flush=True,
        )
        for fraction, count in slow:
            tag = f"slow{round(100 * fraction)}"
            delay = f"{1000 * fraction * per_email:.2f}ms"
            kinds.append((tag, [f"POOLBENCH_DEBUG_DELAY={delay}"], count))
            docs[tag] = {
                "mode": "slow",
                "argv": sys.argv,
                "fraction": fraction,
                "delay": delay,
                "pilot_rate": rate,
                "workers": workers,
                "time_per_email_ms": 1000 * per_email,
                "records": [],
            }
        for fraction, count in burn:
            tag = f"burn{round(100 * fraction)}"
            spend = f"{fraction * cpu_us:.0f}us"
            kinds.append((tag, [f"POOLBENCH_DEBUG_BURN={spend}"], count))
            docs[tag] = {
                "mode": "burn",
                "argv": sys.argv,
                "fraction": fraction,
                "delay": spend,
                "pilot_cpu_us_per_email": cpu_us,
                "records": [],
            }
    tasks = sorted(((k + 0.5) / count, tag, env) for tag, env, count in kinds for k in range(count))
    for doc in docs.values():
        doc["busy_core"] = args.busy_core
    _run_tasks(tasks, docs, root, args)
    for tag, doc in docs.items():
        print(f"== {tag} {doc.get('delay') or ''}")
        _rates(
            doc["records"],
            repeats=None,
            alpha=args.alpha,
            min_effect=args.min_effect,
            expect=_EXPECT[doc["mode"]],
        )
    print(root)


@contextlib.contextmanager
def _busy_core(*, enabled: bool) -> Iterator[None]:
    """The calibration's known background load: one process spinning on one core for the
    whole session (the machine has two), stopped however the session ends."""
    if not enabled:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def _run_tasks(
    tasks: list[tuple[float, str, list[str]]],
    docs: dict[str, dict[str, Any]],
    root: Path,
    args: argparse.Namespace,
) -> None:
    for i, (_when, tag, env) in enumerate(tasks):
        record = _compare(
            root / tag / "compares",
            scenario=args.scenario,
            a=args.a,
            b=args.b,
            repeats=args.repeats,
            seed=i,
            b_env=env,
            extra=["--repo", str(args.repo)],
        )
        docs[tag]["records"].append(record)
        (root / tag).mkdir(parents=True, exist_ok=True)
        (root / tag / "calibration.json").write_text(json.dumps(docs[tag], indent=2) + "\n")
        c = record["compare"]
        thr = c["points"][0]["metrics"]["throughput"] if c.get("points") else None
        print(
            f"[{i + 1}/{len(tasks)}] {tag}: exit {record['exit']}, {record['wall_s']:.0f} s, "
            f"load {record['load_before']:.2f}: throughput "
            + ("n/a" if thr is None else f"{100 * (thr['change'] or 0):+.1f}% {thr['verdict']}"),
            flush=True,
        )


def _stored(folders: list[Path], *, pool: bool) -> list[tuple[str, dict[str, Any]]]:
    """Each folder's calibration.json, or with `pool` one per folder name, its records
    concatenated (the first folder's settings are shown; the delays are listed)."""
    loaded = [(folder, json.loads((folder / "calibration.json").read_text())) for folder in folders]
    if not pool:
        return [(str(folder), doc) for folder, doc in loaded]
    kinds: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for folder, doc in loaded:
        kinds.setdefault(folder.name, []).append((folder, doc))
    pooled = []
    for name, group in kinds.items():
        doc = dict(group[0][1])
        doc["records"] = [r for _folder, d in group for r in d["records"]]
        doc["delay"] = " / ".join(str(d.get("delay") or "") for _f, d in group).strip(" /")
        pooled.append((f"{name} ({len(group)} sessions)", doc))
    return pooled


def _simulate(
    stored: dict[str, Any], *, alpha: float, min_effect: float, trials: int = 4000
) -> None:
    """What other repeat counts would give, resampling the measured A = B noise.

    The residuals are log(throughput) minus its compare's median, pooled over every run of
    the A = B compares; each simulated compare draws n per side from them (independently:
    the drift within a compare is not kept) and shifts B by the given drop.
    """
    import random

    residuals: list[float] = []
    for record in stored["records"]:
        points = record["compare"].get("points")
        if not points:
            continue
        m = points[0]["metrics"]["throughput"]
        values = [math.log(v) for v in (*m["a"], *m["b"]) if v]
        centre = statistics.median(values)
        residuals += [v - centre for v in values]
    sd = statistics.stdev(residuals)
    print(
        f"A = B residuals: {len(residuals)} runs, sd of log(throughput) {sd:.3f} "
        f"(~{100 * sd:.0f}% per run)"
    )
    rng = random.Random(0)
    metric = BY_NAME["throughput"]
    for n in (4, 5, 6, 8, 10, 12):
        row = []
        for drop in (0.0, 0.05, 0.10, 0.20, 0.30):
            hits = 0
            for _ in range(trials):
                a = [math.exp(rng.choice(residuals)) for _ in range(n)]
                b = [(1 - drop) * math.exp(rng.choice(residuals)) for _ in range(n)]
                v = judge(metric, a, b, alpha=alpha, min_effect=min_effect).verdict
                hits += v is Verdict.WORSE
            row.append(f"-{drop:.0%}: {hits / trials:.0%}")
        print(f"  n={n:2d} per side (~{n * 2 * 15 / 60:.0f} min): worse at " + ", ".join(row))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("same", "slow"):
        p = sub.add_parser(mode)
        p.add_argument("--compares", type=int, default=20)
        p.add_argument("--repeats", type=int, default=5)
        p.add_argument("--scenario", type=Path, default=SCENARIO)
        p.add_argument("--a", default="HEAD")
        p.add_argument("--b", default=".")
        p.add_argument("--out", type=Path, default=ROOT / "results" / "calibration")
        p.add_argument("--alpha", type=float, default=0.05)
        p.add_argument("--min-effect", type=float, default=0.10)
        p.add_argument("--first-seed", type=int, default=0)
        if mode == "slow":
            p.add_argument("--fraction", type=float, required=True, help="delay / time per email")
            p.add_argument("--delay", help="use this POOLBENCH_DEBUG_DELAY instead (e.g. 2.3ms)")
    x = sub.add_parser("mix", help="A = B and slowed compares, interleaved in time")
    x.add_argument("--same", type=int, default=20, help="A = B compares")
    x.add_argument(
        "--slow",
        action="append",
        default=[],
        help="FRACTION:COMPARES, e.g. 0.10:8 (repeatable)",
    )
    x.add_argument(
        "--burn",
        action="append",
        default=[],
        help="FRACTION:COMPARES: B burns FRACTION of A's CPU per email more, e.g. 0.10:8",
    )
    x.add_argument("--repeats", type=int, default=5)
    x.add_argument("--scenario", type=Path, default=SCENARIO)
    x.add_argument("--a", default="HEAD")
    x.add_argument("--b", default=".")
    x.add_argument("--out", type=Path, default=ROOT / "results" / "calibration")
    x.add_argument("--repo", type=Path, default=ROOT, help="where --a's git ref is resolved")
    x.add_argument("--alpha", type=float, default=0.05)
    x.add_argument("--min-effect", type=float, default=0.10)
    x.add_argument(
        "--busy-core",
        action="store_true",
        help="keep one core busy (a spinning process) for the whole session",
    )
    r = sub.add_parser("rates")
    r.add_argument("folders", type=Path, nargs="+")
    r.add_argument("--repeats", type=int)
    r.add_argument("--alpha", type=float, default=0.05)
    r.add_argument("--min-effect", type=float, default=0.10)
    r.add_argument(
        "--simulate",
        action="store_true",
        help="also resample an A = B folder's noise for other repeat counts",
    )
    r.add_argument(
        "--pool",
        action="store_true",
        help="one set of rates per kind (same, slow5, ...): the compares of every folder "
        "of that name together, e.g. two sessions' mix-*/same",
    )
    args = parser.parse_args()

    if args.mode == "rates":
        for names, stored in _stored(args.folders, pool=args.pool):
            print(f"== {names}: {stored['mode']} {stored.get('delay') or ''}")
            _rates(
                stored["records"],
                repeats=args.repeats,
                alpha=args.alpha,
                min_effect=args.min_effect,
                expect=_EXPECT[stored["mode"]],
            )
            if args.simulate and stored["mode"] == "same":
                _simulate(stored, alpha=args.alpha, min_effect=args.min_effect)
        return

    if args.mode == "mix":
        with _busy_core(enabled=args.busy_core):
            _mix(args)
        return
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    tag = args.mode if args.mode == "same" else f"slow{round(100 * args.fraction)}"
    folder = args.out / f"{tag}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"mode": args.mode, "argv": sys.argv, "records": []}
    b_env: list[str] = []
    if args.mode == "slow":
        if args.delay:
            delay = args.delay
        else:
            per_email, rate, workers, _cpu = _measure_time_per_email(
                args.scenario, folder / "pilot"
            )
            delay_ms = 1000 * args.fraction * per_email
            delay = f"{delay_ms:.2f}ms"
            doc.update(pilot_rate=rate, workers=workers, time_per_email_ms=1000 * per_email)
            print(
                f"pilot: {rate:.1f}/s with {workers} workers = {1000 * per_email:.2f} ms per "
                f"email; delay {delay} ({args.fraction:.0%})",
                flush=True,
            )
        doc["delay"] = delay
        b_env = [f"POOLBENCH_DEBUG_DELAY={delay}"]
    for i in range(args.compares):
        record = _compare(
            folder / "compares",
            scenario=args.scenario,
            a=args.a,
            b=args.b,
            repeats=args.repeats,
            seed=args.first_seed + i,
            b_env=b_env,
            extra=[],
        )
        doc["records"].append(record)
        (folder / "calibration.json").write_text(json.dumps(doc, indent=2) + "\n")
        c = record["compare"]
        thr = c["points"][0]["metrics"]["throughput"] if c.get("points") else None
        print(
            f"[{i + 1}/{args.compares}] exit {record['exit']}, {record['wall_s']:.0f} s, "
            f"load {record['load_before']:.2f}: throughput "
            + ("n/a" if thr is None else f"{100 * (thr['change'] or 0):+.1f}% {thr['verdict']}"),
            flush=True,
        )
    _rates(
        doc["records"],
        repeats=None,
        alpha=args.alpha,
        min_effect=args.min_effect,
        expect="worse" if args.mode == "slow" else "none",
    )
    print(folder)


if __name__ == "__main__":
    main()
