"""The one exception tree of poolbench.

A leaf module: it imports nothing from the package, so every layer can raise from it.
`UserError` and its children are the user's to fix (a bad flag, a bad scenario, an
unreachable broker); the CLI turns them into one line on stderr and exit code 2. Any
other exception is a bug and keeps its traceback. Library errors (confluent-kafka,
aiosmtplib, yaml) are translated where they are caught, with `raise ... from exc`.
"""

from __future__ import annotations


class PoolbenchError(Exception):
    """Root of every error poolbench raises on purpose."""


class UserError(PoolbenchError):
    """Something the user can fix: the message names what is wrong and where."""


class ConfigError(UserError, ValueError):
    """A setting, flag or environment variable has an invalid value."""


class LocatedError(UserError):
    """An error in a file at a key path: shown as `path:key: message`."""

    def __init__(self, message: str, *, path: str = "", key: str = "") -> None:
        where = ":".join(part for part in (path, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.path = path
        self.key = key


class ScenarioError(LocatedError, ConfigError):
    """A scenario file is invalid; the message carries the file and the key path."""


class UnreachableError(UserError):
    """A broker or SMTP server could not be reached within the time allowed."""


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
    """A measured run could not be completed (a part failed to start or died)."""


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
