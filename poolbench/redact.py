"""Secrets never reach a result, a report or a log: one rule for what counts as one.

A value is secret when its name holds PASSWORD, SECRET, TOKEN or KEY (any case, as in
`SMTP_PASSWORD`, `smtp_password`, `API_KEY`), or when it is one of the known secret
values (the SMTP password itself, wherever it shows up). A leaf module, like `errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

MASK: Final = "***"
_MARKERS: Final = ("PASSWORD", "SECRET", "TOKEN", "KEY")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in _MARKERS)


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with every secret-named, non-empty value replaced by `MASK` (nested too)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if is_secret_name(str(name)) and value not in ("", None):
            out[name] = MASK
        elif isinstance(value, Mapping):
            out[name] = redact_mapping(value)
        else:
            out[name] = value
    return out


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each non-empty secret replaced by `MASK`."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
