"""Commands that give a verdict: `validate` (a pool against the binding and memory maps) and `diff` (two blobs' pools).

Once the verdict is known it is kept on the run: a report that is then lost cannot change it.
"""

from __future__ import annotations

import click

from pmpoolctl import api
from pmpoolctl.cli import exitcodes
from pmpoolctl.cli.context import run_of
from pmpoolctl.cli.options import (
    PATH,
    byte_order_option,
    common_options,
    json_option,
    map_options,
    next_kernel_option,
    pool_option,
    verdict_options,
)
from pmpoolctl.files.inputs import STDIN, display_name
from pmpoolctl.files.safewrite import write_file


@click.command()
@click.argument("old_path", metavar="OLD", type=PATH)
@click.argument("new_path", metavar="NEW", type=PATH)
@pool_option
@json_option("pmpoolctl.diff/v1")
@common_options
@click.pass_context
def diff(ctx: click.Context, old_path: str, new_path: str, pool_name: str, as_json: bool) -> int:
    """Show how the pool changed from blob OLD to blob NEW.

    Pools are compared as the pages they hold (both sides canonicalised), so
    only pages that come or go show, with their totals, changed pool
    properties, and header and reservation-block changes; a pool that appears
    or disappears shows all its pages. Exit 0 when the pools are the same, 1
    when they differ; header and reservation changes are shown but do not make
    the pools differ. A pool that breaks the binding (an error: unsorted,
    overlapping, unaligned ranges, a bad compatible or page-size) is always a
    difference, with its problems listed; warnings (touching ranges) are
    listed but are not one. Exit 3 when neither blob has the pool. OLD or NEW
    may be - for stdin.

    \b
    Example:
      pmpoolctl diff /sys/firmware/fdt next.dtb
      pmpoolctl diff booted.dtb next.dtb --json | jq .added
      pmpoolctl diff -q booted.dtb next.dtb || echo "the pool changed"
    """
    from pmpoolctl.output import diff as report

    if old_path == STDIN and new_path == STDIN:
        raise click.UsageError("only one of OLD and NEW can be - (standard input)")
    comparison = api.diff(old_path, new_path, pool_name)
    code = exitcodes.OK if comparison.same else exitcodes.FINDINGS
    run = run_of(ctx)
    run.verdict = code  # from here on, only the verdict decides
    old, new = comparison.old.source, comparison.new.source
    if as_json:
        run.print_json(report.diff_json(comparison.result, old, new, pool_name))
    else:
        report.render_diff(run.console(), comparison.result, old, new, pool_name)
    return code


@click.command("validate")
@click.argument("blob_path", metavar="BLOB", type=PATH)
@map_options
@pool_option
@click.option(
    "--kho",
    "kho_path",
    metavar="PATH",
    type=PATH,
    help="KHO state (a kho/out directory): ranges must stay clear of its scratch areas and what it preserves.",
)
@byte_order_option
@next_kernel_option
@verdict_options
@common_options
@click.pass_context
def validate(
    ctx: click.Context,
    blob_path: str,
    memmaps: tuple[str, ...],
    memmap_format: str | None,
    live: bool,
    pool_name: str,
    kho_path: str | None,
    byte_order: str,
    next_kernel: str | None,
    phys_bits: int | None,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
) -> int:
    """Check BLOB's pool against the binding and the machine's memory maps.

    Without --memmap the blob's own /memory nodes are the map. Every range must
    be RAM in every map and reserved in none, and clear of the kernel image,
    the crash kernel and the blob's reservations. With --kho PATH (a copy of
    /sys/kernel/debug/kho/out) every range must also be clear of the KHO
    scratch areas, where the next kernel boots (range-in-kho-scratch), and of
    the reserve_mem regions and sub-blobs KHO preserves (range-in-kho-preserved).
    With --next-kernel IMAGE the kernel to kexec must know pmpool-v1
    (abi-unknown-to-next-kernel). Exit 0 when there is no error (no warning
    either with --strict), 1 when there is.

    \b
    Example:
      pmpoolctl validate next.dtb --live --junit report.xml
      pmpoolctl validate next.dtb --memmap iomem.txt --memmap e820.log
      pmpoolctl validate next.dtb --live --kho kho-out --next-kernel /boot/vmlinuz-next
    """
    begin_junit(ctx, display_name(blob_path))
    result = api.validate(
        blob_path,
        memmaps,
        memmap_format=memmap_format,
        live=live,
        pool=pool_name,
        kho=kho_path,
        byte_order=byte_order,
        next_kernel=next_kernel,
        phys_bits=phys_bits,
        progress=None if as_json else progress_of(ctx),
    )
    return report_validation(ctx, result, strict, as_json, junit_path)


def progress_of(ctx: click.Context) -> api.Progress:
    """A progress bar on the run's console for long work (on a terminal only)."""
    from pmpoolctl.output.console import progress

    console = run_of(ctx).console()
    return lambda description, total: progress(console, description, total)


def report_validation(
    ctx: click.Context, result: api.Validation, strict: bool, as_json: bool, junit_path: str | None
) -> int:
    """Shared by validate and kho validate: keep the verdict, write the JUnit report, print, give the exit code.

    The notes of `result` say what could not be checked (shown with the report, never as an `error:` line).
    """
    from pmpoolctl.output import check as report
    from pmpoolctl.output.junit import junit_xml

    ok = result.passes(strict)
    run = run_of(ctx)
    run.verdict = exitcodes.OK if ok else exitcodes.FINDINGS  # from here on, only the verdict decides
    if junit_path is not None:
        write_file(junit_path, junit_xml(result.report, result.source, strict))
    notes = list(result.notes)
    if as_json:
        run.print_json(report.validate_json(result.report, result.source, ok, notes))
    else:
        report.render_validate(run.console(), result.report, result.source, ok, notes)
    return run.verdict


def begin_junit(ctx: click.Context, subject: str) -> None:
    """Before the check: FILE says the run did not finish, until the run's own report replaces it.

    So a run that is killed, or fails in any way, never leaves an older passing report behind.
    """
    request = run_of(ctx).junit
    if request is None:
        return
    from pmpoolctl.output.junit import junit_error_xml

    request.subject = subject
    message = f"{request.command} did not finish (it was killed, or is still running)"
    write_file(request.path, junit_error_xml(request.command, subject, message, None))
