"""JSON from users' files: loading it, and its integers, with errors that name the place."""

from __future__ import annotations

import json
import json.scanner
from typing import Any

from pmpoolctl.errors import InputError, NumberError
from pmpoolctl.numbers import U64_MAX, parse_number


def load_json(text: str, source: str) -> Any:
    """The document in `text`; an InputError naming line and column when it is not JSON.

    An object that has a key twice is refused too: JSON leaves open which value counts
    (Python's json and jq take the last, other readers the first), and a map or a batch that
    says two things of one entry must not be read as either.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        at = _first_object_with_a_duplicate(text)
        place = ""
        if at is not None:  # line:column as JSONDecodeError counts them
            line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
            place = f":{line}:{column}"
        raise InputError(
            f"{source}{place}: invalid JSON for this tool: an object has the key "
            f"{json.dumps(exc.key)[:80]} twice, and which value counts is not defined"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    except ValueError as exc:  # an integer past Python's 4300-digit limit for int()
        what = "a number of more than 4300 digits (a u64 has 20)" if "digits" in str(exc) else str(exc)
        raise InputError(f"{source}: unreadable JSON: {what}") from exc
    except RecursionError as exc:
        raise InputError(f"{source}: unreadable JSON: nested too deeply") from exc


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict, or _DuplicateKey for the first key that comes twice."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


def _first_object_with_a_duplicate(text: str) -> int | None:
    """The offset of the `{` of the first object (in document order of their ends) with a key twice.

    Only on that error's path: the pure-Python scanner, the one whose objects can be followed
    to their offsets, reads the text again. `load_json` found one, so this finds one, unless
    the nesting is too deep for the Python scanner's recursion (then None: no place to name).
    """
    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys)

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[dict[str, Any], int]:
        try:
            return json.decoder.JSONObject(s_and_end, *args)  # type: ignore[attr-defined,no-any-return]
        except _DuplicateKey:
            raise _Found(s_and_end[1] - 1) from None

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        decoder.decode(text)
    except _Found as found:
        return found.offset
    except RecursionError:
        return None
    raise AssertionError("the fast parse found a key twice, the slow one none")


class _Found(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


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
