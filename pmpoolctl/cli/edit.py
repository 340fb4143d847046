"""Commands that write a blob: `create`, `add-range`, `remove-range`.

The edit itself (lock, read under the lock, plan, read-back, atomic write) is
`pmpoolctl.api`'s; here are the arguments, the run's signal deferral around the commit,
and the summary.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from pmpoolctl import api
from pmpoolctl.cli import exitcodes
from pmpoolctl.cli.context import Run, run_of
from pmpoolctl.cli.options import (
    NUMBER,
    PATH,
    common_options,
    json_option,
    new_pool_option,
    options,
    page_size_option,
    pool_option,
)
from pmpoolctl.files.inputs import STDIN, display_name, stat_of_input
from pmpoolctl.numbers import counted

EDIT_SCHEMA = "pmpoolctl.edit/v1"


@click.command()
@click.argument("out", metavar="OUT", type=PATH)
@click.option(
    "--range", "ranges", type=(NUMBER, NUMBER), multiple=True, metavar="BASE SIZE", help="A range to put in the pool."
)
@page_size_option("The pool's page size.")
@click.option("--from", "from_blob", metavar="BASE_BLOB", type=PATH, help="Copy this blob and add the pool node to it.")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@new_pool_option
@json_option(EDIT_SCHEMA)
@common_options
@click.pass_context
def create(
    ctx: click.Context,
    out: str,
    ranges: tuple[tuple[int, int], ...],
    page_size: int,
    from_blob: str | None,
    force: bool,
    pool_name: str,
    as_json: bool,
) -> int:
    """Write a new blob OUT with an empty or --range-filled pool.

    \b
    Example:
      pmpoolctl create pool.dtb --range 0x100000000 2M --range 5G 1G
      pmpoolctl create host.dtb --from booted.dtb
    """
    run = run_of(ctx)
    to_stdout = _blob_to_stdout(run, out, as_json)
    created = api.create(
        api.TO_BYTES if to_stdout else out,
        ranges,
        page_size=page_size,
        pool=pool_name,
        base=from_blob,
        force=force,
        before_commit=run.defer_signals,
        after_commit=run.committed_to,
    )
    if created.data is not None:
        _write_blob_to_stdout(created.data)
        return exitcodes.OK
    if as_json:
        from pmpoolctl.output.edit import edit_json
        from pmpoolctl.pool.change import Change

        change = Change.created(created.ranges)  # a pool that was not there: changed, even when empty
        run.print_json(edit_json(created.file, "/" + created.pool, change, page_size, dry_run=False, written=True))
        return exitcodes.OK
    shown = counted(len(created.ranges), "range")
    run.console().print(f"{created.file}: created with pool /{created.pool}: {shown}, page size {page_size}")
    return exitcodes.OK


def _given_range(base: int | None, size: int | None, from_file: str | None) -> list[tuple[int, int]]:
    """BASE SIZE as a list of one range (none with only --from FILE)."""
    if (base is None) != (size is None):
        raise click.UsageError("give both BASE and SIZE")
    if base is None and from_file is None:
        raise click.UsageError("give BASE SIZE, or --from FILE")
    return [] if base is None or size is None else [(base, size)]


def _batch_progress(run: Run) -> api.Progress:
    from pmpoolctl.output.console import progress

    console = run.console()
    return lambda what, total: progress(console, what, total)


def _blob_to_stdout(run: Run, out: str, as_json: bool = False) -> bool:
    """Whether OUT is - (the blob goes to standard output); refuse a terminal, --quiet or --json for it."""
    if out != STDIN:
        return False
    if run.quiet:
        raise click.UsageError("-o - writes the blob to standard output, which --quiet silences")
    if as_json:
        raise click.UsageError("-o - and --json both write to standard output: give one")
    if sys.stdout is None or sys.stdout.isatty():
        raise click.UsageError(
            "refusing to write a binary blob to a terminal: redirect standard output, or give a file"
        )
    return True


def _write_blob_to_stdout(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _edit(
    ctx: click.Context,
    blob_path: str,
    requested_args: tuple[int | None, int | None, str | None],
    pool_name: str,
    out: str | None,
    dry_run: bool,
    as_json: bool,
    edit: Callable[..., api.Edit],
    **how: bool,
) -> int:
    """The two edit commands: check the arguments, read the ranges, edit through the api, summarise."""
    run = run_of(ctx)
    if blob_path == STDIN and out is None and not dry_run:
        raise click.UsageError("editing standard input needs -o OUT (-o - writes the result to standard output)")
    to_stdout = out is not None and not dry_run and _blob_to_stdout(run, out, as_json)
    if blob_path == STDIN and requested_args[2] == STDIN:
        raise click.UsageError("BLOB and --from cannot both be - (standard input)")
    base, size, from_file = requested_args
    if out is not None and not to_stdout and not dry_run and from_file is not None:
        _refuse_output_over_batch(out, from_file)
    result = edit(
        blob_path,
        _given_range(base, size, from_file),
        from_file=from_file,  # the api reads the batch, and frees its arrays once the edit is planned
        progress=_batch_progress(run),
        pool=pool_name,
        output=api.TO_BYTES if to_stdout else out,
        dry_run=dry_run,
        list_changes=as_json,  # the document lists what went and came (in arrays, as a dry run does)
        before_commit=run.defer_signals,
        after_commit=run.committed_to,
        **how,
    )
    return _report_edit(run, result, as_json=as_json, dry_run=dry_run)


def _refuse_output_over_batch(out: str, from_file: str) -> None:
    """-o OUT that is the --from FILE being read (swapped arguments, `--from r.txt -o r.txt`): nothing is written.

    The edit would replace the list of ranges with a blob. -o OUT may be BLOB itself (an edit in place).
    """
    batch = stat_of_input(from_file)  # for -, the file standard input comes from
    if batch is None:
        return
    try:
        found = os.stat(out)
    except (OSError, ValueError):
        return
    if (found.st_dev, found.st_ino) == (batch.st_dev, batch.st_ino):
        raise click.UsageError(
            f"-o {display_name(out)} is the same file as --from {_named(from_file)}, which this edit reads: "
            "give another OUT (a blob is never written over its batch)"
        )


def _named(path: str) -> str:
    return "- (standard input)" if path == STDIN else display_name(path)


# The arguments and options both edit commands share.
_edit_command = options(
    click.argument("blob_path", metavar="BLOB", type=PATH),
    click.argument("base", type=NUMBER, required=False),
    click.argument("size", type=NUMBER, required=False),
    click.option(
        "--from", "from_file", metavar="FILE", type=PATH, help="Ranges from FILE (- for stdin): text or JSON."
    ),
    pool_option,
    click.option("-o", "--output", "out", metavar="OUT", type=PATH, help="Write the result to OUT instead of BLOB."),
    click.option("-n", "--dry-run", is_flag=True, help="Show what would change; write nothing."),
    json_option(EDIT_SCHEMA),
    click.pass_context,
)


@click.command("add-range")
@_edit_command
@click.option("--merge", is_flag=True, help="Merge ranges that overlap the pool instead of refusing them.")
@common_options
def add_range(
    ctx: click.Context,
    blob_path: str,
    base: int | None,
    size: int | None,
    from_file: str | None,
    pool_name: str,
    out: str | None,
    dry_run: bool,
    as_json: bool,
    merge: bool,
) -> int:
    """Add pages to BLOB's pool: BASE SIZE, or a batch with --from FILE.

    The pool stays canonical: sorted, adjacent ranges merged. A range that
    overlaps the pool is refused unless --merge.

    \b
    Example:
      pmpoolctl add-range pool.dtb 0x180000000 1G
      pmpoolctl add-range pool.dtb 0x180000000 1G --merge --json | jq .changed
      printf '0x200000000 2M\\n0x300000000 4M\\n' | pmpoolctl add-range pool.dtb --from -
    """
    return _edit(ctx, blob_path, (base, size, from_file), pool_name, out, dry_run, as_json, api.add_ranges, merge=merge)


@click.command("remove-range")
@_edit_command
@click.option("--ignore-missing", is_flag=True, help="Skip pages that are not in the pool instead of refusing.")
@common_options
def remove_range(
    ctx: click.Context,
    blob_path: str,
    base: int | None,
    size: int | None,
    from_file: str | None,
    pool_name: str,
    out: str | None,
    dry_run: bool,
    as_json: bool,
    ignore_missing: bool,
) -> int:
    """Remove pages from BLOB's pool: BASE SIZE, or a batch with --from FILE.

    Removing the middle of a range splits it. Pages that are not in the pool
    are refused unless --ignore-missing.

    \b
    Example:
      pmpoolctl remove-range pool.dtb 0x100100000 1M
    """
    return _edit(
        ctx,
        blob_path,
        (base, size, from_file),
        pool_name,
        out,
        dry_run,
        as_json,
        api.remove_ranges,
        ignore_missing=ignore_missing,
    )


@click.command("canonicalize")
@click.argument("blob_path", metavar="BLOB", type=PATH)
@pool_option
@click.option("-o", "--output", "out", metavar="OUT", type=PATH, help="Write the result to OUT instead of BLOB.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--merge", is_flag=True, help="Merge overlapping ranges instead of refusing the pool.")
@json_option(EDIT_SCHEMA)
@common_options
@click.pass_context
def canonicalize(
    ctx: click.Context, blob_path: str, pool_name: str, out: str | None, dry_run: bool, merge: bool, as_json: bool
) -> int:
    """Rewrite BLOB's pool in canonical form: sorted, touching ranges merged.

    The pool keeps the pages it holds; empty ranges go. A pool with
    overlapping ranges (a page handed over twice) is refused unless --merge;
    one that breaks the binding otherwise (compatible, page-size, a range not
    page-aligned or past 2^64) is refused. Edits in place unless -o OUT; the
    edit is locked, read back and written atomically as every edit is.

    \b
    Example:
      pmpoolctl canonicalize pool.dtb --dry-run
      pmpoolctl canonicalize pool.dtb -o fixed.dtb --merge
    """
    run = run_of(ctx)
    if blob_path == STDIN and out is None and not dry_run:
        raise click.UsageError("editing standard input needs -o OUT (-o - writes the result to standard output)")
    to_stdout = out is not None and not dry_run and _blob_to_stdout(run, out, as_json)
    result = api.canonicalize(
        blob_path,
        pool=pool_name,
        merge=merge,
        output=api.TO_BYTES if to_stdout else out,
        dry_run=dry_run,
        list_changes=as_json,
        before_commit=run.defer_signals,
        after_commit=run.committed_to,
    )
    return _report_edit(run, result, as_json=as_json, dry_run=dry_run)


__all__ = ["add_range", "canonicalize", "create", "remove_range"]


def _report_edit(run: Run, result: api.Edit, *, as_json: bool, dry_run: bool) -> int:
    """An edit's answer: the blob itself (-o -), its JSON document, or the summary."""
    from pmpoolctl.output.edit import edit_json, render_change

    if result.data is not None:
        _write_blob_to_stdout(result.data)
        return exitcodes.OK
    if as_json:
        written = result.written is not None
        run.print_json(edit_json(result.file, result.pool, result.change, result.page_size, dry_run=dry_run,
                                 written=written))  # fmt: skip
        return exitcodes.OK
    render_change(run.console(), result.file, result.pool, result.change, result.page_size, dry_run=dry_run)
    return exitcodes.OK
