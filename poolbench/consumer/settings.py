"""The consumer's settings: defaults, environment variables and flags, validated once.

Precedence is the seed's: a flag (given, i.e. not None) beats the environment, which
beats the default. The seed's variable names are kept (`EMAIL_WORKER_COUNT`, `SMTP_HOST`,
...); the knobs the seed does not have use `POOLBENCH_*`. `SETTINGS` is the one table of
every knob (field, flag, variable, kind, parser, help); the defaults are
`ConsumerSettings`'s. The `consume` command's options, the README's table
(`markdown_table`), the tuning advice and the scenario's consumer defaults derive from it.

Across a process boundary settings travel as JSON: `dump_settings` on one side,
`load_settings_json` on the other, validated by the same parsers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from poolbench.consumer.lanes import parse_lane_weights
from poolbench.errors import ConfigError
from poolbench.units import format_duration, parse_duration

SECURITY_MODES: Final = ("none", "starttls", "tls")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerSettings:
    workers: int = 10
    buffer: int = 100
    kafka_brokers: str = "localhost:9093"
    kafka_topic: str = "email-queue"
    kafka_group: str = "messaging-service-group"
    smtp_host: str = "localhost"
    smtp_port: int = 2525
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "none"
    smtp_verify_tls: bool = True
    connection_reuse: bool = True
    smtp_timeout_s: float = 10.0
    shutdown_timeout_s: float = 30.0
    max_retries: int = 3
    retry_base_s: float = 0.1
    retry_max_s: float = 5.0
    # At most max_retries + 1: a lone email failing in an outage then opens the breaker
    # before its retries run out, so it waits instead of going to the DLQ.
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 5.0
    dlq_topic: str = "email-dlq"
    metrics_port: int = 0
    # Every interface, as Prometheus exporters do: in a container (Kubernetes, Docker) the
    # scraper and the kubelet's probes connect to the pod's address, never its loopback.
    # The endpoint is off unless a port is given, and it serves counts, no email content.
    metrics_host: str = "0.0.0.0"
    health_stall_s: float = 15.0
    breaker_unready_s: float = 300.0
    commit_interval_s: float = 1.0
    sequential: bool = False
    templates_dir: Path | None = None
    priority_lanes: bool = False
    lane_weights: tuple[int, int, int] = (8, 4, 1)
    debug_delay_s: float = 0.0
    debug_burn_s: float = 0.0
    # New emails started per event-loop pass (0: no limit); see start_gate.py.
    starts_per_pass: int = 1


DEFAULTS: Final = ConsumerSettings()
Parser = Callable[[object], Any]  # raises ConfigError with neither `what` nor `where`


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingSpec:
    """One knob: the settings field, its flag and variable, its kind, parser and meaning."""

    field: str
    flag: str
    env: str
    kind: str  # the flag's metavar: INTEGER, DURATION, BOOL, TEXT, PATH or the choices
    parse: Parser
    help: str
    hidden: bool = False

    def read(self, raw: object, where: str) -> object:
        """`raw` parsed; a `ConfigError` names this field and `where` the value came from."""
        try:
            return self.parse(raw)
        except ConfigError as exc:
            raise exc.at(where, what=self.field) from exc

    @property
    def default(self) -> object:
        return getattr(DEFAULTS, self.field)

    def text(self, value: object) -> str:
        """`value` as the flag or variable would spell it: `100ms`, `on`, `10`."""
        if isinstance(value, bool):
            return "on" if value else "off"
        if self.kind == "DURATION" and isinstance(value, int | float):
            return format_duration(float(value))
        if value is None:
            return ""
        if isinstance(value, tuple):
            return ":".join(str(part) for part in value)
        return str(value)

    @property
    def default_text(self) -> str:
        """The default as shown in help and README; a word where it is empty."""
        if self.field == "templates_dir":
            return "(built-in)"
        return self.text(self.default) or "(empty)"


def _problem(expected: str, value: object) -> ConfigError:
    return ConfigError(expected=expected, got=value)


def _integer(low: int, high: int | None = None) -> Parser:
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(value: object) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                number = None
        if number is None or number < low or (high is not None and number > high):
            raise _problem(expected, value)
        return number

    return parse


def _duration(*, positive: bool) -> Parser:
    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _problem("a duration like '100ms' or '2s'", value)
        try:
            seconds = parse_duration(value)
        except ConfigError:
            raise _problem("a duration like '100ms' or '2s'", value) from None
        if positive and seconds <= 0:
            raise ConfigError("must be positive", got=value)
        return seconds

    return parse


def _text(*, allow_empty: bool) -> Parser:
    def parse(value: object) -> str:
        if not isinstance(value, str):
            raise _problem("text", value)
        text = value if allow_empty else value.strip()
        if not allow_empty and not text:
            raise ConfigError("must not be empty")
        return text

    return parse


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _problem("true or false (1/0, yes/no, on/off)", value)


def _choice(choices: tuple[str, ...]) -> Parser:
    def parse(value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise _problem(f"one of {', '.join(choices)}", value)

    return parse


def _folder(value: object) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value) if value.strip() else None
    raise _problem("a folder path", value)


def _lane_weights(value: object) -> tuple[int, int, int]:
    try:
        return parse_lane_weights(value, "")
    except ConfigError:
        raise _problem("three positive integers high:normal:low, e.g. 8:4:1", value) from None


def _spec(
    name: str, flag: str, env: str, kind: str, help: str, *, parse: Parser, hidden: bool = False
) -> SettingSpec:
    return SettingSpec(
        field=name, flag=flag, env=env, kind=kind, parse=parse, help=help, hidden=hidden
    )


_MODES: Final = "[" + "|".join(SECURITY_MODES) + "]"
SETTINGS: Final[tuple[SettingSpec, ...]] = (
    _spec("workers", "--workers", "EMAIL_WORKER_COUNT", "INTEGER", "concurrent workers",
          parse=_integer(1)),
    # 0 is valid: the pool then hands each job straight to an idle worker.
    _spec("buffer", "--buffer", "EMAIL_WORKER_BUFFER", "INTEGER",
          "job queue capacity (0: each job goes straight to an idle worker)",
          parse=_integer(0)),
    _spec("kafka_brokers", "--kafka-brokers", "KAFKA_BROKERS", "HOST:PORT[,...]",
          "Kafka bootstrap servers", parse=_text(allow_empty=False)),
    _spec("kafka_topic", "--kafka-topic", "KAFKA_TOPIC", "TEXT", "input topic",
          parse=_text(allow_empty=False)),
    _spec("kafka_group", "--kafka-group", "KAFKA_GROUP_ID", "TEXT", "consumer group id",
          parse=_text(allow_empty=False)),
    _spec("smtp_host", "--smtp-host", "SMTP_HOST", "TEXT", "SMTP server host",
          parse=_text(allow_empty=False)),
    _spec("smtp_port", "--smtp-port", "SMTP_PORT", "INTEGER", "SMTP server port",
          parse=_integer(1, 65535)),
    _spec("smtp_user", "--smtp-user", "SMTP_USER", "TEXT", "SMTP user (empty: no AUTH)",
          parse=_text(allow_empty=True)),
    _spec("smtp_password", "--smtp-pass", "SMTP_PASSWORD", "TEXT", "SMTP password",
          parse=_text(allow_empty=True)),
    _spec("smtp_security", "--smtp-security", "POOLBENCH_SMTP_SECURITY", _MODES,
          "TLS to the SMTP server: none, starttls, or tls (implicit TLS)",
          parse=_choice(SECURITY_MODES)),
    _spec("smtp_verify_tls", "--smtp-verify-tls", "POOLBENCH_SMTP_VERIFY_TLS", "BOOL",
          "verify the server's TLS certificate (off for self-signed test sinks)",
          parse=_boolean),
    _spec("connection_reuse", "--connection-reuse", "POOLBENCH_CONNECTION_REUSE", "BOOL",
          "keep one SMTP connection open per worker, the efficient way to run the service; "
          "off: a new connection per email, as the seed's Go service does",
          parse=_boolean),
    _spec("smtp_timeout_s", "--smtp-timeout", "POOLBENCH_SMTP_TIMEOUT", "DURATION",
          "timeout of each SMTP connect and command",
          parse=_duration(positive=True)),
    _spec("shutdown_timeout_s", "--shutdown-timeout", "POOLBENCH_SHUTDOWN_TIMEOUT", "DURATION",
          "time to finish queued and running emails on SIGTERM/SIGINT",
          parse=_duration(positive=False)),
    _spec("max_retries", "--max-retries", "POOLBENCH_MAX_RETRIES", "INTEGER",
          "retries of a transient failure when the event sets none",
          parse=_integer(0)),
    _spec("retry_base_s", "--retry-base", "POOLBENCH_RETRY_BASE", "DURATION",
          "first retry's backoff ceiling (doubles per attempt, full jitter)",
          parse=_duration(positive=False)),
    _spec("retry_max_s", "--retry-max", "POOLBENCH_RETRY_MAX", "DURATION",
          "largest backoff ceiling", parse=_duration(positive=False)),
    _spec("breaker_threshold", "--breaker-threshold", "POOLBENCH_BREAKER_THRESHOLD", "INTEGER",
          "consecutive transient failures that open the circuit breaker (keep it at most "
          "--max-retries + 1, or a lone email in an outage is dead-lettered first)",
          parse=_integer(1)),
    _spec("breaker_cooldown_s", "--breaker-cooldown", "POOLBENCH_BREAKER_COOLDOWN", "DURATION",
          "how long the open breaker waits before a probe",
          parse=_duration(positive=False)),
    _spec("dlq_topic", "--dlq-topic", "POOLBENCH_DLQ_TOPIC", "TEXT", "dead-letter topic",
          parse=_text(allow_empty=False)),
    _spec("metrics_port", "--metrics-port", "POOLBENCH_METRICS_PORT", "INTEGER",
          "Prometheus endpoint on METRICS_HOST:PORT (0: off); bound before Kafka is "
          "contacted, so a taken port fails at once", parse=_integer(0, 65535)),
    _spec("metrics_host", "--metrics-host", "POOLBENCH_METRICS_HOST", "TEXT",
          "address the Prometheus endpoint listens on; every interface by default, since "
          "in a container the scraper and the probes reach the pod's address, not its "
          "loopback (127.0.0.1: this machine only)", parse=_text(allow_empty=False)),
    _spec("health_stall_s", "--health-stall", "POOLBENCH_HEALTH_STALL", "DURATION",
          "/healthz on the metrics port answers 503 when the event loop has not beaten "
          "for this long (a stuck consumer, for a liveness probe)",
          parse=_duration(positive=True)),
    _spec("breaker_unready_s", "--breaker-unready-after", "POOLBENCH_BREAKER_UNREADY_AFTER",
          "DURATION", "/readyz on the metrics port answers 503 once the circuit breaker has "
          "not closed for this long (also while no partition is assigned)",
          parse=_duration(positive=True)),
    _spec("commit_interval_s", "--commit-interval", "POOLBENCH_COMMIT_INTERVAL", "DURATION",
          "how often finished offsets are committed",
          parse=_duration(positive=True)),
    _spec("sequential", "--sequential", "POOLBENCH_SEQUENTIAL", "BOOL",
          "one email at a time (forces 1 worker): the seed's old consumer",
          parse=_boolean),
    _spec("templates_dir", "--templates-dir", "POOLBENCH_TEMPLATES_DIR", "PATH",
          "folder of <name>.html / <name>.txt templates overriding the built-in ones",
          parse=_folder),
    _spec("priority_lanes", "--priority-lanes", "POOLBENCH_PRIORITY_LANES", "BOOL",
          "high/normal/low lanes by the event's priority; off: one queue, the seed's way",
          parse=_boolean),
    _spec("lane_weights", "--lane-weights", "POOLBENCH_LANE_WEIGHTS", "H:N:L",
          "takes per round of high:normal:low when all lanes wait (with --priority-lanes)",
          parse=_lane_weights),
    _spec("starts_per_pass", "--starts-per-pass", "POOLBENCH_STARTS_PER_PASS", "INTEGER",
          "new emails started per event-loop pass (or an eighth of those waiting, if more), "
          "the others in order in the passes after (0: no limit): a burst of SMTP replies "
          "then does not start a burst of emails that all finish together and come back "
          "as a burst again",
          parse=_integer(0)),
    _spec("debug_delay_s", "--debug-delay", "POOLBENCH_DEBUG_DELAY", "DURATION",
          "extra sleep per email (to prove that regression gates catch a slow consumer)",
          parse=_duration(positive=False), hidden=True),
    _spec("debug_burn_s", "--debug-burn", "POOLBENCH_DEBUG_BURN", "DURATION",
          "extra CPU time per email, spent on the event loop (to prove that regression "
          "gates catch a costlier consumer)",
          parse=_duration(positive=False), hidden=True),
)  # fmt: skip
_BY_FIELD: Final = {spec.field: spec for spec in SETTINGS}


def spec_for(name: str) -> SettingSpec:
    """The table's row for the settings field `name`."""
    return _BY_FIELD[name]


def load_settings(flags: Mapping[str, object | None], env: Mapping[str, str]) -> ConsumerSettings:
    """Settings from flags (keyed by field name; None = not given), then `env`, then defaults.

    Every value is validated; a bad one raises `ConfigError` located at the flag or
    variable it came from. `sequential=True` forces one worker.
    """
    _reject_unknown(flags)
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    for spec in SETTINGS:
        flag_value = flags.get(spec.field)
        if flag_value is not None:
            raw, origin[spec.field] = flag_value, spec.flag
        elif spec.env in env:
            raw, origin[spec.field] = env[spec.env], spec.env
        else:
            continue
        values[spec.field] = spec.read(raw, origin[spec.field])
    return _build(values, origin)


def load_settings_json(text: str) -> ConsumerSettings:
    """Settings from `dump_settings`'s JSON: an object keyed by field name; a missing
    field takes its default. Validated by the same parsers; an error names the field."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(expected="a JSON object of consumer settings", got=type(doc).__name__)
    _reject_unknown(doc)
    values: dict[str, object] = {}
    for name, raw in doc.items():
        values[name] = _BY_FIELD[name].read(raw, name)
    return _build(values, {name: name for name in values})


def dump_settings(settings: ConsumerSettings) -> str:
    """Every field as JSON (seconds as numbers, a folder as text or null), secrets included:
    what `load_settings_json` reads back to the same settings."""
    return json.dumps(settings_dict(settings), sort_keys=True)


def settings_dict(settings: ConsumerSettings) -> dict[str, Any]:
    """The JSON-ready form of `settings` (secrets included; mask before showing it)."""
    doc: dict[str, Any] = {}
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        doc[item.name] = str(value) if isinstance(value, Path) else value
    return doc


def _reject_unknown(names: Mapping[str, object]) -> None:
    unknown = sorted(set(names) - set(_BY_FIELD))
    if unknown:
        raise ConfigError(f"unknown consumer setting(s): {', '.join(unknown)}")


def _build(values: dict[str, object], origin: Mapping[str, str]) -> ConsumerSettings:
    settings = ConsumerSettings(**values)  # type: ignore[arg-type]
    if settings.retry_max_s < settings.retry_base_s:
        name = "retry_max_s" if "retry_max_s" in origin else "retry_base_s"
        raise ConfigError(
            f"the largest backoff ({settings.retry_max_s:g}s) must not be below "
            f"the first ({settings.retry_base_s:g}s)",
            what=name,
            where=origin.get(name, ""),
        )
    if settings.sequential and settings.workers != 1:
        settings = replace(settings, workers=1)
    return settings


README_BEGIN: Final = "<!-- consumer-settings: generated by settings.markdown_table() -->"
README_END: Final = "<!-- /consumer-settings -->"


def markdown_table() -> str:
    """The README's table of every setting (hidden ones marked), between its markers."""
    rows = [
        README_BEGIN,
        "| flag | environment | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for spec in SETTINGS:
        meaning = spec.help.replace("|", "\\|") + (" (hidden)" if spec.hidden else "")
        flag = f"{spec.flag} {spec.kind}".replace("|", "\\|")
        rows.append(f"| `{flag}` | `{spec.env}` | `{spec.default_text}` | {meaning} |")
    rows.append(README_END)
    return "\n".join(rows)
