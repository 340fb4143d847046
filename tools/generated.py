"""What the generators of docs/cli.md, man/ and completions/ share (tools/gen_*.py): the command tree as
--help walks it, and a main() that writes their files or, with --check, says which are stale (the tests
call `stale`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from pmpoolctl.cli import cli


@dataclass(frozen=True)
class Entry:
    """One command of the tree, with the context its --help is made in."""

    path: str  # "pmpoolctl kho dump"
    command: click.Command
    ctx: click.Context

    @property
    def name(self) -> str:  # pmpoolctl-kho-dump
        return self.path.replace(" ", "-")


def walk(
    command: click.Command = cli, path: str = "pmpoolctl", parent: click.Context | None = None, **settings: Any
) -> list[Entry]:
    """`command` and, for a group, each of its commands, depth first; `settings` go to every context."""
    context_settings = {**command.context_settings, **settings}
    ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent, **context_settings)
    found = [Entry(path, command, ctx)]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            found += walk(sub, f"{path} {name}", ctx, **settings)
    return found


@dataclass(frozen=True)
class Output:
    """Generated files: `files()` gives each one's text; files matching `glob` in their directory that it no
    longer gives are left over (a removed command's man page) and removed."""

    files: Callable[[], dict[Path, str]]
    target: str  # the make target that regenerates them
    glob: str | None = None


def stale(output: Output) -> list[Path]:
    """The files that differ from what is generated, are missing, or are left over."""
    expected = output.files()
    wrong = [path for path, text in expected.items() if not path.exists() or path.read_text() != text]
    if output.glob:
        for directory in {path.parent for path in expected}:
            wrong += [path for path in directory.glob(output.glob) if path not in expected]
    return sorted(wrong)


def main(output: Output, description: str | None, argv: list[str] | None = None) -> int:
    """Write the files (removing left-over ones), or with --check exit 1 when any is stale."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0] if description else None)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when stale")
    args = parser.parse_args(argv)
    wrong = stale(output)
    if args.check:
        if wrong:
            print(f"stale: {', '.join(map(str, wrong))}: run `make {output.target}`", file=sys.stderr)
        return 1 if wrong else 0
    expected = output.files()
    for path in wrong:
        if path not in expected:
            path.unlink()
    for path, text in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(expected)} files ({len(wrong)} had changed)")
    return 0
