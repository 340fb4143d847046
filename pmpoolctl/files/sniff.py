"""Telling a file's kind from its first bytes: an FDT blob, or JSON text.

Maps, batches, KHO sub-blobs and blobs read from pipes are told apart here, and only here.
"""

from __future__ import annotations

import re

from pmpoolctl.dtb.format import FDT_MAGIC, U32

_LEADING_SPACE = re.compile(r"\s*")  # what str.lstrip() strips, without copying the text


def is_fdt(head: bytes) -> bool:
    """Whether `head` starts with the FDT magic (big-endian 0xd00dfeed)."""
    return len(head) >= 4 and U32.unpack_from(head, 0)[0] == FDT_MAGIC


def starts_like_json(text: str) -> bool:
    """Whether the first character that is not white space opens a JSON list or object."""
    leading = _LEADING_SPACE.match(text)
    assert leading is not None, "\\s* matches any text"
    return text[leading.end() : leading.end() + 1] in ("[", "{")
