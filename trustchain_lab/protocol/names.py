"""Which task and worker names the protocol accepts: safe inside any key or channel name."""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 128
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f*?\[\]]")


def check_name(name: str, what: str = "task name") -> str:
    """Return ``name`` if it is safe inside a key or channel name, else raise ``ValueError``.

    The rules: a non-empty ``str`` of at most 128 characters that UTF-8 can encode (a key
    must be bytes), without whitespace, control characters or the glob characters
    ``* ? [ ]`` (they would make channel patterns and key scans match more than they should).
    """
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError(f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    if not _encodable(name):
        raise ValueError(f"{what} {name!r} cannot be encoded in UTF-8 (a lone surrogate?)")
    bad = _FORBIDDEN.search(name)
    if bad:
        raise ValueError(
            f"{what} {name!r} holds {bad.group()!r}: whitespace, control characters and "
            "the glob characters * ? [ ] are not allowed"
        )
    return name


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
