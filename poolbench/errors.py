"""The one exception tree of poolbench.

A leaf module: it imports nothing from the package, so every layer can raise from it.
`UserError` and its children are the user's to fix (a bad flag, a bad scenario, an
unreachable broker): the CLI prints one line and exits 2. `RunError` means a part of
the harness failed: one line and exit 1. Any other exception is a bug and keeps its
traceback. The exit codes live in `poolbench.cli.exit_codes`. Library errors
(confluent-kafka, aiosmtplib, yaml) are translated where they are caught, with
`raise ... from exc`.

A `ConfigError` is structured: `what` names the setting as the library knows it (a
settings field, `sink.latency`), `expected` and `got` say what was wrong, and `where`
is where the value came from (a flag, a variable, a key path). The library leaves
`where` to its caller: the CLI sets a flag with `at("--port")`, the scenario parser a
key path, so neither has to strip the other's prefix from a message. A problem that
names other settings writes them `{group}` and lists them in `related`; they read as
their field names until a caller names them (`at("--backlog", names={"group": "--group"})`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

_NOTHING: Final[Any] = object()


class PoolbenchError(Exception):
    """Root of every error poolbench raises on purpose."""


class UserError(PoolbenchError):
    """Something the user can fix: the message names what is wrong and where."""


class ConfigError(UserError, ValueError):
    """A setting, flag or environment variable has an invalid value.

    `ConfigError("plain message")` still works; the structured form is
    `ConfigError(what="workers", expected="an integer >= 1", got="ten")`, optionally with
    a `problem` in words ("must be positive") and the `where` it came from. `related`:
    the other settings the problem names, written `{name}` in its text.
    """

    related: tuple[str, ...] = ()
    names: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self,
        problem: str = "",
        *,
        what: str = "",
        where: str = "",
        expected: str = "",
        got: Any = _NOTHING,
        related: tuple[str, ...] = (),
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.what = what
        self.where = where
        self.expected = expected
        self.has_got = got is not _NOTHING
        self.got = got if self.has_got else None
        self.problem = problem or (f"expected {expected}" if expected else "invalid value")
        self.related = related
        # How the related settings read: as the caller names them (flags), else as fields.
        self.names = {name: (names or {}).get(name, name) for name in related}
        super().__init__(self.describe())

    @property
    def detail(self) -> str:
        """What is wrong, without where: `expected an integer >= 1, got 'ten'`."""
        problem = self.problem.format_map(self.names) if self.related else self.problem
        return f"{problem}, got {self.got!r}" if self.has_got else problem

    def describe(self) -> str:
        """`where: detail`, or the detail alone when nobody said where."""
        return f"{self.where}: {self.detail}" if self.where else self.detail

    def at(
        self, where: str, *, what: str = "", names: Mapping[str, str] | None = None
    ) -> ConfigError:
        """The same error, located at `where` (a flag, a variable, a key path); `names`
        says how its related settings read there (a flag for each field)."""
        return ConfigError(
            self.problem,
            what=what or self.what,
            where=where,
            expected=self.expected,
            got=self.got if self.has_got else _NOTHING,
            related=self.related,
            names={**self.names, **(names or {})},
        )


class LocatedError(UserError):
    """An error in a file at a key path: shown as `path:key: message`."""

    def __init__(self, message: str, *, path: str = "", key: str = "") -> None:
        where = ":".join(part for part in (path, key) if part)
        UserError.__init__(self, f"{where}: {message}" if where else message)
        self.message = message
        self.path = path
        self.key = key


class ScenarioError(LocatedError, ConfigError):
    """A scenario file is invalid; the message carries the file, the line (when read from
    a file) and the key path: `file.yaml:12: load.rate: expected ...`."""

    def __init__(
        self, message: str, *, path: str = "", key: str = "", line: int | None = None
    ) -> None:
        LocatedError.__init__(self, message, path=path, key=key)
        self.line = line
        if line is not None:
            # `file:LINE: key: message`, as compilers write it (editors jump to the line).
            head = f"{path}:{line}" if path else f"line {line}"
            Exception.__init__(self, f"{head}: {key}: {message}" if key else f"{head}: {message}")
        self.what = key
        self.where = ":".join(part for part in (path, key) if part)
        self.expected = ""
        self.got = None
        self.has_got = False
        self.problem = message

    @property
    def detail(self) -> str:
        return self.message

    @classmethod
    def from_config(
        cls, exc: ConfigError, *, path: str, key: str, line: int | None = None
    ) -> ScenarioError:
        """A library's `ConfigError` about a value, located at a scenario key path."""
        located = cls(exc.detail, path=path, key=key, line=line)
        located.expected, located.got, located.has_got = exc.expected, exc.got, exc.has_got
        located.problem = exc.problem
        return located


class ScenarioErrors(ScenarioError):
    """Every problem of one scenario file at once, in file order (one per line).

    Its `key`, `message` and `line` are the first problem's, so code that looks at one
    error still works; `errors` holds them all.
    """

    def __init__(self, errors: list[ScenarioError], *, path: str = "") -> None:
        first = errors[0]
        ScenarioError.__init__(self, first.message, path=first.path, key=first.key, line=first.line)
        self.errors = tuple(errors)
        lines = "\n".join(str(error) for error in errors)
        Exception.__init__(
            self, f"{path or first.path or 'scenario'}: {len(errors)} problems\n{lines}"
        )


class UnreachableError(UserError):
    """A broker or SMTP server could not be reached within the time allowed."""


class BrokerError(UserError):
    """The embedded broker could not be started or create a topic (librdkafka missing,
    a topic the mock cluster refuses)."""


class InvalidEventError(PoolbenchError, ValueError):
    """A Kafka message is not a valid EmailEvent. Goes to the dead-letter topic."""


class PoolError(PoolbenchError):
    """Base of the worker pool's own errors."""


class InvalidPoolSizeError(ConfigError, PoolError):
    """Workers or buffer out of range."""


class QueueFullError(PoolError):
    """The pool's job queue is full (the seed's "Worker pool job queue is full")."""


class PoolClosedError(PoolError):
    """The pool stopped accepting jobs."""


class RunError(PoolbenchError):
    """A part of the harness failed (would not start, died, stopped answering), so a run
    could not be completed. Not the user's input: the CLI exits 1, not 2."""


class ResultsError(LocatedError):
    """A results file is missing, invalid or of another schema version; names file and field."""


class UnknownTemplateError(PoolbenchError, LookupError):
    """An event names a template the consumer does not have. Permanent: goes to the DLQ."""


class SendError(PoolbenchError):
    """Sending one email over SMTP failed; `code` is the SMTP reply code, if any."""

    def __init__(self, message: str, *, code: int | None = None, reply: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class TransientSendError(SendError):
    """Worth retrying: a 4xx reply, a refused or dropped connection, a timeout."""


class PermanentSendError(SendError):
    """Retrying will not help: a 5xx reply or an address the server rejects."""


class DeadLetterError(PoolbenchError):
    """A dead letter could not be written; its event stays uncommitted for redelivery."""


class GateInputError(UserError):
    """The gate cannot compare: a missing or mismatched baseline or results file."""
