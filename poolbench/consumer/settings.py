"""The consumer's settings: defaults, environment variables and flags, validated once.

Precedence is the seed's: a flag (given, i.e. not None) beats the environment, which
beats the default. The seed's variable names are kept (`EMAIL_WORKER_COUNT`, `SMTP_HOST`,
...); the knobs the seed does not have use `POOLBENCH_*`. `SETTINGS` lists every knob
with its flag, variable and help text, so the CLI and the README are derived from one
table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from poolbench.errors import ConfigError
from poolbench.units import parse_duration

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
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 5.0
    dlq_topic: str = "email-dlq"
    metrics_port: int = 0
    commit_interval_s: float = 1.0
    sequential: bool = False
    templates_dir: Path | None = None
    debug_delay_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingSpec:
    """One knob: the settings field, its flag and environment variable, and what it means."""

    field: str
    flag: str
    env: str
    help: str
    hidden: bool = False


SETTINGS: Final[tuple[SettingSpec, ...]] = (
    SettingSpec(
        field="workers", flag="--workers", env="EMAIL_WORKER_COUNT", help="concurrent workers"
    ),
    SettingSpec(
        field="buffer", flag="--buffer", env="EMAIL_WORKER_BUFFER", help="job queue capacity"
    ),
    SettingSpec(
        field="kafka_brokers",
        flag="--kafka-brokers",
        env="KAFKA_BROKERS",
        help="Kafka bootstrap servers, host:port[,host:port]",
    ),
    SettingSpec(field="kafka_topic", flag="--kafka-topic", env="KAFKA_TOPIC", help="input topic"),
    SettingSpec(
        field="kafka_group", flag="--kafka-group", env="KAFKA_GROUP_ID", help="consumer group id"
    ),
    SettingSpec(field="smtp_host", flag="--smtp-host", env="SMTP_HOST", help="SMTP server host"),
    SettingSpec(field="smtp_port", flag="--smtp-port", env="SMTP_PORT", help="SMTP server port"),
    SettingSpec(
        field="smtp_user", flag="--smtp-user", env="SMTP_USER", help="SMTP user (empty: no AUTH)"
    ),
    SettingSpec(
        field="smtp_password", flag="--smtp-pass", env="SMTP_PASSWORD", help="SMTP password"
    ),
    SettingSpec(
        field="smtp_security",
        flag="--smtp-security",
        env="POOLBENCH_SMTP_SECURITY",
        help="none, starttls or tls (implicit TLS)",
    ),
    SettingSpec(
        field="smtp_verify_tls",
        flag="--smtp-verify-tls",
        env="POOLBENCH_SMTP_VERIFY_TLS",
        help="verify the server's TLS certificate (off for self-signed test sinks)",
    ),
    SettingSpec(
        field="connection_reuse",
        flag="--connection-reuse",
        env="POOLBENCH_CONNECTION_REUSE",
        help="one SMTP connection per worker; off: one per email, the Go service's way",
    ),
    SettingSpec(
        field="smtp_timeout_s",
        flag="--smtp-timeout",
        env="POOLBENCH_SMTP_TIMEOUT",
        help="timeout of each SMTP connect and command",
    ),
    SettingSpec(
        field="shutdown_timeout_s",
        flag="--shutdown-timeout",
        env="POOLBENCH_SHUTDOWN_TIMEOUT",
        help="time to finish queued and running emails on shutdown",
    ),
    SettingSpec(
        field="max_retries",
        flag="--max-retries",
        env="POOLBENCH_MAX_RETRIES",
        help="retries of a transient failure when the event sets none",
    ),
    SettingSpec(
        field="retry_base_s",
        flag="--retry-base",
        env="POOLBENCH_RETRY_BASE",
        help="first retry's backoff ceiling (doubles per attempt, full jitter)",
    ),
    SettingSpec(
        field="retry_max_s",
        flag="--retry-max",
        env="POOLBENCH_RETRY_MAX",
        help="largest backoff ceiling",
    ),
    SettingSpec(
        field="breaker_threshold",
        flag="--breaker-threshold",
        env="POOLBENCH_BREAKER_THRESHOLD",
        help="consecutive transient failures that open the circuit breaker",
    ),
    SettingSpec(
        field="breaker_cooldown_s",
        flag="--breaker-cooldown",
        env="POOLBENCH_BREAKER_COOLDOWN",
        help="how long the open breaker waits before a probe",
    ),
    SettingSpec(
        field="dlq_topic", flag="--dlq-topic", env="POOLBENCH_DLQ_TOPIC", help="dead-letter topic"
    ),
    SettingSpec(
        field="metrics_port",
        flag="--metrics-port",
        env="POOLBENCH_METRICS_PORT",
        help="Prometheus endpoint port (0: off)",
    ),
    SettingSpec(
        field="commit_interval_s",
        flag="--commit-interval",
        env="POOLBENCH_COMMIT_INTERVAL",
        help="how often finished offsets are committed",
    ),
    SettingSpec(
        field="sequential",
        flag="--sequential",
        env="POOLBENCH_SEQUENTIAL",
        help="one email at a time (forces 1 worker): the seed's old consumer",
    ),
    SettingSpec(
        field="templates_dir",
        flag="--templates-dir",
        env="POOLBENCH_TEMPLATES_DIR",
        help="folder of <name>.html / <name>.txt templates overriding the built-in ones",
    ),
    SettingSpec(
        field="debug_delay_s",
        flag="--debug-delay",
        env="POOLBENCH_DEBUG_DELAY",
        help="extra sleep per email (to prove that regression gates catch a slow consumer)",
        hidden=True,
    ),
)

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _integer(low: int, high: int) -> Callable[[object, str], int]:
    def parse(value: object, where: str) -> int:
        bound = f"an integer >= {low}" if high >= 1 << 31 else f"an integer from {low} to {high}"
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected {bound}, got {value!r}")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                raise ConfigError(f"{where}: expected {bound}, got {value!r}") from None
        else:
            raise ConfigError(f"{where}: expected {bound}, got {value!r}")
        if not low <= number <= high:
            raise ConfigError(f"{where}: expected {bound}, got {value!r}")
        return number

    return parse


def _duration(*, positive: bool) -> Callable[[object, str], float]:
    def parse(value: object, where: str) -> float:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected a duration like '100ms' or '2s', got {value!r}")
        seconds = parse_duration(value, what=where)
        if positive and seconds <= 0:
            raise ConfigError(f"{where}: must be positive, got {value!r}")
        return seconds

    return parse


def _text(*, allow_empty: bool) -> Callable[[object, str], str]:
    def parse(value: object, where: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        text = value if allow_empty else value.strip()
        if not allow_empty and not text:
            raise ConfigError(f"{where}: must not be empty")
        return text

    return parse


def _boolean(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{where}: expected true or false (1/0, yes/no, on/off), got {value!r}")


def _security(value: object, where: str) -> str:
    if isinstance(value, str) and value.strip().lower() in SECURITY_MODES:
        return value.strip().lower()
    raise ConfigError(f"{where}: expected one of none, starttls, tls, got {value!r}")


def _path(value: object, where: str) -> Path | None:
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value) if value.strip() else None
    raise ConfigError(f"{where}: expected a folder path, got {value!r}")


_UNBOUNDED: Final = 1 << 62
_PARSERS: Final[Mapping[str, Callable[[object, str], object]]] = {
    "workers": _integer(1, _UNBOUNDED),
    # 0 is valid: the pool then hands each job straight to an idle worker.
    "buffer": _integer(0, _UNBOUNDED),
    "kafka_brokers": _text(allow_empty=False),
    "kafka_topic": _text(allow_empty=False),
    "kafka_group": _text(allow_empty=False),
    "smtp_host": _text(allow_empty=False),
    "smtp_port": _integer(1, 65535),
    "smtp_user": _text(allow_empty=True),
    "smtp_password": _text(allow_empty=True),
    "smtp_security": _security,
    "smtp_verify_tls": _boolean,
    "connection_reuse": _boolean,
    "smtp_timeout_s": _duration(positive=True),
    "shutdown_timeout_s": _duration(positive=False),
    "max_retries": _integer(0, _UNBOUNDED),
    "retry_base_s": _duration(positive=False),
    "retry_max_s": _duration(positive=False),
    "breaker_threshold": _integer(1, _UNBOUNDED),
    "breaker_cooldown_s": _duration(positive=False),
    "dlq_topic": _text(allow_empty=False),
    "metrics_port": _integer(0, 65535),
    "commit_interval_s": _duration(positive=True),
    "sequential": _boolean,
    "templates_dir": _path,
    "debug_delay_s": _duration(positive=False),
}


def load_settings(flags: Mapping[str, object | None], env: Mapping[str, str]) -> ConsumerSettings:
    """Settings from flags (keyed by field name; None = not given), then `env`, then defaults.

    Every value is validated; a bad one raises `ConfigError` naming the flag or variable
    it came from. `sequential=True` forces one worker.
    """
    known = {spec.field: spec for spec in SETTINGS}
    unknown = sorted(set(flags) - set(known))
    if unknown:
        raise ConfigError(f"unknown consumer setting(s): {', '.join(unknown)}")
    values: dict[str, object] = {}
    for spec in SETTINGS:
        flag_value = flags.get(spec.field)
        if flag_value is not None:
            values[spec.field] = _PARSERS[spec.field](flag_value, spec.flag)
        elif spec.env in env:
            values[spec.field] = _PARSERS[spec.field](env[spec.env], spec.env)
    settings = ConsumerSettings(**values)  # type: ignore[arg-type]
    _check_together(settings, values, flags)
    if settings.sequential and settings.workers != 1:
        settings = replace(settings, workers=1)
    return settings


def _check_together(
    settings: ConsumerSettings, given: Mapping[str, object], flags: Mapping[str, object | None]
) -> None:
    """Relations between settings; the message names where the offending value came from."""
    if settings.retry_max_s < settings.retry_base_s:
        key = "retry_max_s" if "retry_max_s" in given else "retry_base_s"
        spec = next(s for s in SETTINGS if s.field == key)
        where = spec.flag if flags.get(key) is not None else spec.env
        raise ConfigError(
            f"{where}: the largest backoff ({settings.retry_max_s:g}s) must not be below "
            f"the first ({settings.retry_base_s:g}s)"
        )
