"""Email templates: an HTML and a plain-text part per name, compiled once, rendered per email.

Placeholders are `string.Template`'s `${key}` / `$key` (`$$` is a literal `$`), chosen
over `str.format` so that CSS braces in HTML need no escaping. Each template is split
once into literal pieces and keys, so rendering is one dict lookup per key and a join.
Keys come from the event's `data`, plus the message's `id`, `to`, `from`, `subject`,
`type` and `priority` (which win over `data`, so the id in the footer is the real one).
A missing key renders empty; values are `str()`-ed, and HTML-escaped in the HTML part.

Built-in templates live in `poolbench/templates/`: the seed's `plain` and one per event
type. A folder given by the user overrides a part or adds names (`<name>.html`,
`<name>.txt`).
"""

from __future__ import annotations

import html
import logging
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from poolbench.errors import ConfigError, UnknownTemplateError
from poolbench.wire import EmailEvent

log = logging.getLogger(__name__)

PART_SUFFIXES: Final = (".html", ".txt")


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """Literal pieces interleaved with keys: `literals[0] key[0] literals[1] ... literals[n]`."""

    literals: tuple[str, ...]
    keys: tuple[str, ...]

    @classmethod
    def compile(cls, source: str, *, name: str) -> CompiledTemplate:
        literals: list[str] = []
        keys: list[str] = []
        pending: list[str] = []
        position = 0
        for match in string.Template.pattern.finditer(source):
            pending.append(source[position : match.start()])
            position = match.end()
            if match.group("escaped") is not None:
                pending.append("$")
            elif match.group("invalid") is not None:
                line = source.count("\n", 0, match.start()) + 1
                raise ConfigError(f"template {name}: line {line}: stray '$' (write '$$')")
            else:
                literals.append("".join(pending))
                pending = []
                keys.append(match.group("named") or match.group("braced"))
        pending.append(source[position:])
        literals.append("".join(pending))
        return cls(tuple(literals), tuple(keys))

    def render(self, values: Mapping[str, str], escape: Callable[[str], str] | None = None) -> str:
        """The text with each key's value (empty if missing), passed through `escape` if given."""
        literals = self.literals
        if not self.keys:
            return literals[0]
        pieces = [literals[0]]
        for index, key in enumerate(self.keys, start=1):
            value = values.get(key, "")
            pieces.append(escape(value) if escape is not None and value else value)
            pieces.append(literals[index])
        return "".join(pieces)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True, slots=True)
class _Pair:
    text: CompiledTemplate
    html: CompiledTemplate


class TemplateSet:
    """The templates the consumer renders with, by name."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Mapping[str, tuple[CompiledTemplate, CompiledTemplate]]) -> None:
        """`pairs` maps a name to its compiled (text, html) parts."""
        self._pairs = {name: _Pair(text, html_) for name, (text, html_) in pairs.items()}

    @classmethod
    def load(cls, directory: Path | None = None) -> TemplateSet:
        """The built-in templates, overridden and extended by `directory` when given."""
        sources: dict[str, dict[str, str]] = {}
        builtin = resources.files("poolbench") / "templates"
        for entry in builtin.iterdir():
            name, suffix = _split(entry.name)
            if suffix:
                sources.setdefault(name, {})[suffix] = entry.read_text(encoding="utf-8")
        if directory is not None:
            for name, suffix, text in _read_folder(directory):
                sources.setdefault(name, {})[suffix] = text
        pairs: dict[str, tuple[CompiledTemplate, CompiledTemplate]] = {}
        for name, parts in sorted(sources.items()):
            missing = [suffix for suffix in PART_SUFFIXES if suffix not in parts]
            if missing:
                raise ConfigError(f"template {name}: missing {name}{missing[0]} in {directory}")
            pairs[name] = (
                CompiledTemplate.compile(_normalize(parts[".txt"]), name=f"{name}.txt"),
                CompiledTemplate.compile(_normalize(parts[".html"]), name=f"{name}.html"),
            )
        log.debug("loaded %d templates: %s", len(pairs), ", ".join(pairs))
        return cls(pairs)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._pairs)

    def render(self, event: EmailEvent) -> RenderedEmail:
        """Both parts of the event's template; `UnknownTemplateError` if there is none."""
        message = event.message
        pair = self._pairs.get(message.template)
        if pair is None:
            raise UnknownTemplateError(
                f"unknown template {message.template!r} (have: {', '.join(sorted(self._pairs))})"
            )
        values = {key: _as_text(value) for key, value in message.data.items()}
        values["id"] = message.id
        values["to"] = message.to
        values["from"] = message.sender
        values["subject"] = message.subject
        values["type"] = event.type
        values["priority"] = message.priority
        return RenderedEmail(
            subject=message.subject,
            text=pair.text.render(values),
            html=pair.html.render(values, html.escape),
        )


def _split(filename: str) -> tuple[str, str]:
    for suffix in PART_SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)], suffix
    return filename, ""


def _read_folder(directory: Path) -> list[tuple[str, str, str]]:
    if not directory.is_dir():
        raise ConfigError(f"templates folder {directory}: not a folder")
    found: list[tuple[str, str, str]] = []
    for path in sorted(directory.iterdir()):
        name, suffix = _split(path.name)
        if not suffix or not path.is_file():
            continue
        try:
            found.append((name, suffix, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"template {path}: cannot read: {exc}") from exc
    return found


def _normalize(source: str) -> str:
    """One line-ending convention (`\\n`); MIME assembly turns it into CRLF."""
    return source.replace("\r\n", "\n").replace("\r", "\n")
