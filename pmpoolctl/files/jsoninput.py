"""JSON from users' files: loading it, and its integers, with errors that name the place."""

from __future__ import annotations

import json
from typing import Any

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.numbers import U64_MAX, parse_number


def load_json(text: str, source: str) -> Any:
    """The document in `text`; an InputError naming line and column when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    except ValueError as exc:  # an integer past Python's 4300-digit limit for int()
        what = "a number of more than 4300 digits (a u64 has 20)" if "digits" in str(exc) else str(exc)
        raise InputError(f"{source}: unreadable JSON: {what}") from exc
    except RecursionError as exc:
        raise InputError(f"{source}: unreadable JSON: nested too deeply") from exc


def json_text(value: str, where: str) -> str:
    """A JSON string that is Unicode text: `"\\ud800"` (a lone surrogate) decodes, but is no text to show."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{where}: not Unicode text (a lone surrogate \\u{ord(value[exc.start]):04x})") from exc
    return value


def json_integer(value: Any, where: str, maximum: int = U64_MAX) -> int:
    """A JSON integer or number string (as on the command line) from 0 to `maximum`."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(f"{where}: expected an integer or a number string, found {type(value).__name__}")
    try:
        number = parse_number(value) if isinstance(value, str) else value
    except NumberError as exc:
        raise InputError(f"{where}: {exc}") from exc
    if not 0 <= number <= maximum:
        raise InputError(f"{where}: {number} is outside 0..{maximum:#x}")
    return number
