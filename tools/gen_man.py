#!/usr/bin/env python3
"""Write man/*.1 from the command tree: pmpoolctl(1) and one page for each command (make man).

python tools/gen_man.py           # rewrite man/
python tools/gen_man.py --check   # exit 1 when man/ is not what the commands say (tests/test_man.py)

The pages say what --help says (docs/cli.md is the same text as markdown): NAME from the first line
of a command's help, DESCRIPTION from the rest, OPTIONS from click's own help records, EXAMPLES from
the help's `Example:` block, EXIT STATUS from pmpoolctl/exitcodes.py. pmpoolctl(1) also lists the
commands and gathers every command's examples.

Not click-man (0.6): it writes help text into roff unescaped (a `\\n` in an example disappears, a line
that starts with `.` becomes a request), reflows click's \\b blocks, cuts NAME lines at 45
characters, and has no EXIT STATUS or EXAMPLES section.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import click

from pmpoolctl import __version__
from pmpoolctl.cli import cli
from pmpoolctl.exitcodes import MEANINGS

MAN = Path(__file__).resolve().parent.parent / "man"
EXAMPLE_HEADINGS = ("Example:", "Examples:")


@dataclass(frozen=True)
class Page:
    path: str  # "pmpoolctl kho dump"
    command: click.Command
    ctx: click.Context

    @property
    def name(self) -> str:  # pmpoolctl-kho-dump, the page's name and file name
        return self.path.replace(" ", "-")


def walk(command: click.Command, path: str, parent: click.Context | None) -> list[Page]:
    """`command` and, for a group, each of its commands, depth first."""
    ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent, **command.context_settings)
    found = [Page(path, command, ctx)]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            found += walk(sub, f"{path} {name}", ctx)
    return found


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


def summary(page: Page) -> str:
    """NAME's text: the help's first paragraph, as a phrase ("show BLOB's header ...")."""
    first = page.command.get_short_help_str(limit=10_000).rstrip(".")
    return first[0].lower() + first[1:] if first[1:2].islower() else first


def synopsis(page: Page) -> str:
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


def options(page: Page) -> list[str]:
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


def see_also(page: Page, pages: list[Page]) -> list[str]:
    if page.path == "pmpoolctl":
        related = [other.name for other in pages if other is not page]
    else:
        parent = page.path.rsplit(" ", 1)[0].replace(" ", "-")
        related = ["pmpoolctl"] + ([parent] if parent != "pmpoolctl" else [])
        if isinstance(page.command, click.Group):
            related += [other.name for other in pages if other.path.startswith(page.path + " ")]
    return section("SEE ALSO", ",\n".join(f"{bold(name)}(1)" for name in related))


def render(page: Page, pages: list[Page]) -> str:
    blocks, examples = help_blocks(page.command)
    lines = [
        ".\\\" Generated by tools/gen_man.py from the commands' help: edit pmpoolctl/cli.py, then run `make man`.",
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


def pages() -> dict[str, str]:
    """Every page, by file name."""
    found = walk(cli, "pmpoolctl", None)
    return {f"{page.name}.1": render(page, found) for page in found}


def stale(expected: dict[str, str]) -> list[str]:
    """The file names in man/ that differ from `expected`, are missing, or are left from a removed command."""
    present = {path.name for path in MAN.glob("*.1")}
    wrong = [name for name, text in expected.items() if name not in present or (MAN / name).read_text() != text]
    return sorted(wrong + sorted(present - set(expected)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when stale")
    args = parser.parse_args(argv)
    expected = pages()
    if args.check:
        wrong = stale(expected)
        if wrong:
            print(f"{MAN}: stale: {', '.join(wrong)}: run `make man`", file=sys.stderr)
        return 1 if wrong else 0
    MAN.mkdir(exist_ok=True)
    for name in {path.name for path in MAN.glob("*.1")} - set(expected):
        (MAN / name).unlink()
    for name, text in expected.items():
        (MAN / name).write_text(text)
    print(f"wrote {len(expected)} pages in {MAN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
