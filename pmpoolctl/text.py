"""Text that came from input, made safe to show: one line that cannot drive a terminal.

A memory map's type words, a file name, a KHO sub-blob's name are whatever their writer
put there. Shown raw, an ESC sequence sets the terminal's title or clears it, a newline
forges a second `error:` line, a bidi override reorders what is read. Every such string
is passed through `printable` before anything prints it; JSON, JUnit and text output
then carry the same escaped form.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` with every character that is not printable as an escape: `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`.

    Printable characters of any script stay as they are (`Ünïcödé`, `東京`); controls, DEL,
    C1, format characters (bidi overrides) and lone surrogates do not.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
