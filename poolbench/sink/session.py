"""The SMTP grammar of the fast engine: reply texts and pure parsers for one line.

Replies and limits follow aiosmtpd's (the reference engine), so a client sees the same
codes from both engines: command lines end at LF (a CR before it is dropped), data lines
at CRLF; a command line over 512 bytes (MAIL after EHLO: 538) gets 500.
"""

from __future__ import annotations

import binascii
from base64 import b64decode

COMMAND_LIMIT = 512
MAIL_LIMIT_ESMTP = COMMAND_LIMIT + 26  # room for SIZE=, as aiosmtpd allows
LINE_BUFFER_LIMIT = 1001  # bytes without a line end before the line counts as overlong
DATA_LINE_LIMIT = 999  # longest data line without its CRLF (RFC 5321 4.5.3.1.6)
BOGUS_LIMIT = 5  # unknown commands before the connection is closed

ALLOWED_BEFORE_STARTTLS = frozenset({"NOOP", "EHLO", "STARTTLS", "QUIT"})


def reply(text: str) -> bytes:
    return text.encode("ascii") + b"\r\n"


OK = reply("250 OK")
BYE = reply("221 Bye")
START_DATA = reply("354 End data with <CR><LF>.<CR><LF>")
START_TLS = reply("220 Ready to start TLS")
BAD_SYNTAX = reply("500 Error: bad syntax")
STRICT_ASCII = reply("500 Error: strict ASCII mode")
TOO_LONG = reply("500 Command line too long")
DATA_LINE_TOO_LONG = reply("500 Line too long (see RFC5321 4.5.3.1.6)")
DATA_TOO_MUCH = reply("552 Error: Too much mail data")
NEED_STARTTLS = reply("530 Must issue a STARTTLS command first")
NEED_MAIL = reply("503 Error: need MAIL command")
NEED_RCPT = reply("503 Error: need RCPT command")
NESTED_MAIL = reply("503 Error: nested MAIL command")
TOO_MANY_BOGUS = reply("502 5.5.1 Too many unrecognized commands, goodbye.")
TLS_UNAVAILABLE = reply("454 TLS not available")
MALFORMED_ADDRESS = reply("553 5.1.3 Error: malformed address")
SIZE_EXCEEDED = reply("552 Error: message size exceeds fixed maximum message size")
MAIL_PARAMS = reply("555 MAIL FROM parameters not recognized or not implemented")
RCPT_PARAMS = reply("555 RCPT TO parameters not recognized or not implemented")
AUTH_NOT_RECOGNIZED = reply("500 Error: command 'AUTH' not recognized")
AUTH_ALREADY = reply("503 Already authenticated")
AUTH_NO_VALUE = reply("501 Not enough value")
AUTH_TOO_MANY = reply("501 Too many values")
AUTH_MECHANISM = reply("504 5.5.4 Unrecognized authentication type")
AUTH_BAD_BASE64 = reply("501 5.5.2 Can't decode base64")
AUTH_BAD_SPLIT = reply("501 5.5.2 Can't split auth value")
AUTH_ABORTED = reply("501 5.7.0 Auth aborted")
AUTH_PLAIN_CHALLENGE = reply("334 ")
AUTH_USER_CHALLENGE = reply("334 VXNlcm5hbWU6")  # "Username:"
AUTH_PASSWORD_CHALLENGE = reply("334 UGFzc3dvcmQ6")  # "Password:"
HELP = reply("250 Supported commands: AUTH DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET VRFY")
VRFY = reply("252 Cannot VRFY user, but will accept message and attempt delivery")


def send_helo_first(helo: str) -> bytes:
    return reply(f"503 Error: send {helo} first")


def syntax_error(usage: str) -> bytes:
    return reply(f"501 Syntax: {usage}")


def not_recognized(command: str) -> bytes:
    return reply(f'500 Error: command "{command}" not recognized')


def ehlo_reply(hostname: str, *, size_limit: int, starttls: bool) -> bytes:
    lines = [hostname, f"SIZE {size_limit}", "8BITMIME", "PIPELINING"]
    if starttls:
        lines.append("STARTTLS")
    lines += ["AUTH LOGIN PLAIN", "HELP"]
    return b"".join(
        reply(("250 " if i == len(lines) - 1 else "250-") + text) for i, text in enumerate(lines)
    )


def split_command(line: bytes) -> tuple[str, str] | bytes:
    """A command line (no line end) -> (COMMAND, argument), or the error reply."""
    if not line:
        return BAD_SYNTAX
    head, _, tail = line.partition(b" ")
    try:
        command = head.upper().decode("ascii")
        arg = tail.strip().decode("ascii")
    except UnicodeDecodeError:
        return BAD_SYNTAX if not head.isascii() else STRICT_ASCII
    return command, arg


def parse_path(arg: str, keyword: str) -> tuple[str, str] | None:
    """`FROM:<a@x> SIZE=10` with keyword `FROM:` -> ("a@x", "SIZE=10"); None if malformed."""
    if arg[: len(keyword)].upper() != keyword:
        return None
    rest = arg[len(keyword) :].strip()
    if rest.startswith("<"):
        close = rest.find(">")
        if close < 0:
            return None
        address = rest[1:close] or "<>"
        return address, rest[close + 1 :].strip()
    address, _, params = rest.partition(" ")
    return address, params.strip()


def mail_params_error(params: str, *, esmtp: bool, size_limit: int) -> bytes | None:
    """The reply refusing MAIL's parameters, or None when they are acceptable."""
    if not params:
        return None
    usage = "MAIL FROM: <address> [SP <mail-parameters>]"
    if not esmtp:
        return syntax_error("MAIL FROM: <address>")
    for item in params.upper().split():
        key, eq, value = item.partition("=")
        if key == "SIZE":
            if not eq or not value.isdigit():
                return syntax_error(usage)
            if size_limit and int(value) > size_limit:
                return SIZE_EXCEEDED
        elif key == "BODY":
            if value not in ("7BIT", "8BITMIME"):
                return reply("501 Error: BODY can only be one of 7BIT, 8BITMIME")
        else:
            return MAIL_PARAMS
    return None


def decode_base64(text: bytes | str) -> bytes | None:
    try:
        return b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def split_plain(blob: bytes) -> tuple[bytes, bytes] | None:
    """AUTH PLAIN's `authzid NUL login NUL password` -> (login, password)."""
    parts = blob.split(b"\x00")
    if len(parts) != 3:
        return None
    return parts[1], parts[2]
