#!/usr/bin/env python3
"""Write man/*.1 from the command tree: pmpoolctl(1) and one page for each command (make man).

python tools/gen_man.py           # rewrite man/
python tools/gen_man.py --check   # exit 1 when man/ is not what the commands say (tests/cli/test_man.py)

The pages say what --help says (docs/cli.md is the same text as markdown): NAME from the first line
of a command's help, DESCRIPTION from the rest, OPTIONS from click's own help records, EXAMPLES from
the help's `Example:` block, EXIT STATUS from pmpoolctl/exitcodes.py. pmpoolctl(1) also lists the
commands and gathers every command's examples.

Not click-man (0.6): it writes help text into roff unescaped (a `\\n` in an example disappears, a line
that starts with `.` becomes a request), reflows click's \\b blocks, cuts NAME lines at 45
characters, and has no EXIT STATUS or EXAMPLES section.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from pathlib import Path

import click
from generated import Entry, Output, main, walk

from pmpoolctl import __version__
from pmpoolctl.cli.exitcodes import MEANINGS

MAN = Path(__file__).resolve().parent.parent / "man"
EXAMPLE_HEADINGS = ("Example:", "Examples:")


def escape(text: str) -> str:
    """Text as roff prints it: backslashes and hyphen-minus literal, non-ASCII by code point, no requests."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(char if ord(char) < 128 else f"\\[u{ord(char):04X}]" for char in text)
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n"))


def filled(text: str) -> str:
    """Prose for roff to fill, in source lines that a reader of the file can read too."""
    return escape(textwrap.fill(text, 72, break_long_words=False, break_on_hyphens=False))


def bold(text: str) -> str:
    return f"\\fB{escape(text)}\\fR"


def italic(text: str) -> str:
    return f"\\fI{escape(text)}\\fR"


def help_blocks(command: click.Command) -> tuple[list[tuple[bool, str]], list[str]]:
    """The help's paragraphs as (verbatim, text), and the lines of its Example: block."""
    text = inspect.cleandoc(command.help or "").split("\f")[0]
    blocks: list[tuple[bool, str]] = []
    examples: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text.strip()):
        verbatim = block.startswith("\b\n")
        lines = block.removeprefix("\b\n").split("\n")
        if verbatim and lines[0].strip() in EXAMPLE_HEADINGS:
            examples += inspect.cleandoc("\n".join(lines[1:])).split("\n")
        elif verbatim:
            blocks.append((True, "\n".join(lines)))
        else:
            blocks.append((False, " ".join(block.split())))
    return blocks, examples


def summary(page: Entry) -> str:
    """NAME's text: the help's first paragraph, as a phrase ("show BLOB's header ...")."""
    first = page.command.get_short_help_str(limit=10_000).rstrip(".")
    return first[0].lower() + first[1:] if first[1:2].islower() else first


def synopsis(page: Entry) -> str:
    words = [
        re.sub(r"[A-Z][A-Z_]*", lambda m: italic(m[0]), escape(piece))
        for piece in page.command.collect_usage_pieces(page.ctx)
    ]
    return " ".join([bold(page.path), *words])


def option_tag(names: str) -> str:
    """click's `-o, --output OUT` with the option names bold and the value italic."""
    words = []
    for part in names.split(", "):
        name, _, value = part.partition(" ")
        words.append(bold(name) + (" " + italic(value) if value else ""))
    return ", ".join(words)


def section(title: str, *lines: str) -> list[str]:
    return [f".SH {title}", *lines]


def description(blocks: list[tuple[bool, str]]) -> list[str]:
    lines: list[str] = []
    for verbatim, text in blocks:
        lines += [".PP", ".nf", escape(text), ".fi"] if verbatim else [".PP", filled(text)]
    return lines[1:] if lines[:1] == [".PP"] else lines


def example_block(examples: list[str]) -> list[str]:
    return [".EX", *map(escape, examples), ".EE"]


def options(page: Entry) -> list[str]:
    lines = []
    for param in page.command.get_params(page.ctx):
        record = None if isinstance(param, click.Argument) else param.get_help_record(page.ctx)
        if record is not None:
            lines += [".TP", option_tag(record[0]), filled(record[1])]
    return lines


def exit_status() -> list[str]:
    lines = []
    for code, meaning in sorted(MEANINGS.items()):
        lines += [".TP", f"\\fB{code}\\fR", filled(meaning)]
    return section("EXIT STATUS", *lines)


def see_also(page: Entry, pages: list[Entry]) -> list[str]:
    if page.path == "pmpoolctl":
        related = [other.name for other in pages if other is not page]
    else:
        parent = page.path.rsplit(" ", 1)[0].replace(" ", "-")
        related = ["pmpoolctl"] + ([parent] if parent != "pmpoolctl" else [])
        if isinstance(page.command, click.Group):
            related += [other.name for other in pages if other.path.startswith(page.path + " ")]
    return section("SEE ALSO", ",\n".join(f"{bold(name)}(1)" for name in related))


def render(page: Entry, pages: list[Entry]) -> str:
    blocks, examples = help_blocks(page.command)
    lines = [
        ".\\\" Generated by tools/gen_man.py from the commands' help: edit pmpoolctl/cli/, then run `make man`.",
        f'.TH "{page.name.upper()}" 1 "" "pmpoolctl {__version__}" "pmpoolctl manual"',
        ".nh",  # no hyphenation: option names, file names and pmpoolctl-add-range(1) stay whole
        ".ad l",
        *section("NAME", f"{escape(page.name)} \\- {escape(summary(page))}"),
        *section("SYNOPSIS", synopsis(page)),
        *section("DESCRIPTION", *description(blocks)),
    ]
    if isinstance(page.command, click.Group):
        commands = []
        for other in pages:
            if other is not page and other.path.rsplit(" ", 1)[0] == page.path:
                commands += [".TP", f"{bold(other.name)}(1)", filled(other.command.get_short_help_str(limit=10_000))]
        lines += section("COMMANDS", *commands)
    lines += section("OPTIONS", *options(page))
    gathered = example_block(examples) if examples else []
    if page.path == "pmpoolctl":  # every command's examples, after the tool's own
        for other in pages[1:]:
            if help_blocks(other.command)[1]:
                gathered += [f".SS {escape(other.path)}", *example_block(help_blocks(other.command)[1])]
    if gathered:
        lines += section("EXAMPLES", *gathered)
    lines += exit_status()
    lines += see_also(page, pages)
    return "\n".join(lines) + "\n"


def pages() -> dict[Path, str]:
    """Every page, by its file."""
    found = walk()
    return {MAN / f"{page.name}.1": render(page, found) for page in found}


OUTPUT = Output(pages, "man", "*.1")

if __name__ == "__main__":
    sys.exit(main(OUTPUT, __doc__))
