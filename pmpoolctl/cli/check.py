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
from pmpoolctl.cli.pictures import begin_pictures, picture_options, verdict_of, write_pictures
from pmpoolctl.cli.reportpaths import append_summary, claim_reports, refuse_standard_input_twice, write_report
from pmpoolctl.files.inputs import STDIN, display_name


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
    "--all-pools",
    is_flag=True,
    help="Check every pmpool-v1 node of BLOB, and that no page belongs to two of them (pools-overlap).",
)
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
@picture_options
@common_options
@click.pass_context
def validate(
    ctx: click.Context,
    blob_path: str,
    memmaps: tuple[str, ...],
    memmap_format: str | None,
    live: bool,
    pool_name: str,
    all_pools: bool,
    kho_path: str | None,
    byte_order: str,
    next_kernel: str | None,
    phys_bits: int | None,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
    html_path: str | None,
    svg_path: str | None,
    github: bool,
    metrics_path: str | None,
) -> int:
    """Check BLOB's pool against the binding and the machine's memory maps.

    Without --memmap the blob's own /memory nodes are the map. Every range must
    be RAM in every map and reserved in none, and clear of the kernel image,
    the crash kernel and the blob's reservations. A kexec segment list (the
    output of kexec -l/-s ... -d) says where the next kernel, its initrd and
    purgatory are written: every range must be clear of those segments
    (range-in-kexec-segment); it is no map of RAM, so with only such lists the
    blob's /memory nodes are the map of RAM. With --kho PATH (a copy of
    /sys/kernel/debug/kho/out) every range must also be clear of the KHO
    scratch areas, where the next kernel boots (range-in-kho-scratch), and of
    what KHO preserves as PATH shows it: the reserve_mem regions, the sub-blobs'
    pages, the memory map's first page, LUO's tables (range-in-kho-preserved).
    With --next-kernel IMAGE the kernel to kexec must know pmpool-v1
    (abi-unknown-to-next-kernel). --all-pools checks every pmpool-v1 node of
    BLOB the same way, and that no page belongs to two pools (pools-overlap).
    Exit 0 when there is no error (no warning either with --strict), 1 when
    there is. --html FILE writes the report as one self-contained page with
    the address space drawn and every finding marked (see map), --svg FILE
    the picture alone.

    \b
    Example:
      pmpoolctl validate next.dtb --live --junit report.xml
      pmpoolctl validate next.dtb --memmap iomem.txt --memmap e820.log
      pmpoolctl validate next.dtb --live --kho kho-out --next-kernel /boot/vmlinuz-next
      pmpoolctl validate next.dtb --memmap iomem.txt --html report.html
      pmpoolctl validate handover/pool.dtb --memmap machines/iomem.txt --github
      pmpoolctl validate next.dtb --live -q --metrics /var/lib/prometheus/node-exporter/pmpool.prom
      pmpoolctl validate next.dtb --live --memmap kexec:kexec-debug.log --all-pools
    """
    claim_reports(ctx)
    refuse_standard_input_twice(ctx)
    if github and as_json:
        raise click.UsageError("--github and --json both write to standard output: give one")
    if all_pools:
        if ctx.get_parameter_source("pool_name") is not click.core.ParameterSource.DEFAULT:
            raise click.UsageError("--all-pools checks every pool: give it or --pool, not both")
        given = [name for name, value in (("--html", html_path), ("--svg", svg_path), ("--metrics", metrics_path),
                                          ("--github", github)) if value]  # fmt: skip
        if given:
            raise click.UsageError(f"{given[0]} reports one pool: give --pool NAME, not --all-pools")
        begin_reports(ctx, display_name(blob_path), "(all pools)")
        every = api.validate_all_pools(
            blob_path,
            memmaps,
            memmap_format=memmap_format,
            live=live,
            kho=kho_path,
            byte_order=byte_order,
            next_kernel=next_kernel,
            phys_bits=phys_bits,
        )
        return report_all_pools(ctx, every, strict, as_json)
    begin_reports(ctx, display_name(blob_path), "/" + pool_name)
    begin_pictures(ctx, display_name(blob_path))
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
    return report_validation(ctx, result, strict, as_json, github)


def progress_of(ctx: click.Context) -> api.Progress:
    """A progress bar on the run's console for long work (on a terminal only)."""
    from pmpoolctl.output.console import progress

    console = run_of(ctx).console()
    return lambda description, total: progress(console, description, total)


def report_validation(
    ctx: click.Context,
    result: api.Validation,
    strict: bool,
    as_json: bool,
    github: bool = False,
) -> int:
    """Shared by validate and kho validate: keep the verdict, write the reports, print, give the exit code.

    The reports are the JUnit file (with the run's context), the --metrics textfile and, with
    --github, the workflow commands (before the text report) and the step summary. The notes
    of `result` say what could not be checked (shown with the report, never as an `error:` line).
    """
    import os

    from pmpoolctl.output import check as report

    ok = result.passes(strict)
    run = run_of(ctx)
    run.verdict = exitcodes.OK if ok else exitcodes.FINDINGS  # from here on, only the verdict decides
    if run.junit is not None:
        from pmpoolctl.output.junit import check_properties, junit_xml

        blob = result.blob is not None
        digest = (result.sha256, "blob.sha256") if blob else (result.kho_root_sha256, "kho.root.sha256")
        properties = check_properties(result.report.pool.path, result.report.maps, *digest, result.report.zones)
        context = run.report_context(properties)
        write_report(run, run.junit, junit_xml(result.report, result.source, strict, context, result.skipped))
    if run.metrics is not None:
        from pmpoolctl.output.metrics import metrics_text

        write_report(run, run.metrics, metrics_text(result.report, ok, run.verdict, run.started, result.skipped))
    notes = list(result.notes)
    if run.html is not None or run.svg is not None:
        title = f"pmpoolctl {'validate' if result.blob is not None else 'kho validate'} {result.source}"
        summary = report.validate_summary(result.report, result.source)
        verdict = verdict_of(result, strict)
        write_pictures(run, api.validation_space(result), title, summary, verdict, tuple(notes))
    summary = os.environ.get("GITHUB_STEP_SUMMARY", "") if github else ""
    if summary:
        from pmpoolctl.output.github import summary_markdown

        append_summary(run, summary, summary_markdown(result.report, result.source, ok, notes).encode("utf-8"))
    if as_json:
        run.print_json(report.validate_json(result.report, result.source, ok, notes))
        return run.verdict
    console = run.console()
    if github:
        from pmpoolctl.output.console import write_lines
        from pmpoolctl.output.github import workflow_commands

        write_lines(console, workflow_commands(result.report.findings, result.source))
    report.render_validate(console, result.report, result.source, ok, notes)
    return run.verdict


def report_all_pools(ctx: click.Context, result: api.PoolsValidation, strict: bool, as_json: bool) -> int:
    """validate --all-pools: one verdict for every pool, each pool's report, a JUnit suite per pool."""
    from pmpoolctl.output import check as report
    from pmpoolctl.output.junit import junit_xml

    ok = result.passes(strict)
    run = run_of(ctx)
    run.verdict = exitcodes.OK if ok else exitcodes.FINDINGS  # from here on, only the verdict decides
    reports = [v.report for v in result.validations]
    if run.junit is not None:
        first = result.validations[0]
        context = run.report_context([("blob.sha256", first.sha256 or ""), ("pools", str(len(reports)))])
        write_report(run, run.junit, junit_xml(reports, result.source, strict, context, result.skipped))
    if as_json:
        run.print_json(report.validate_all_json(reports, result.source, ok, result.notes))
    else:
        oks = [v.passes(strict) for v in result.validations]
        report.render_validate_all(run.console(), reports, result.source, ok, oks, result.notes)
    return run.verdict


DID_NOT_FINISH = -1  # pmpool_validate_exit_code while the check runs (or after it was killed)


def begin_reports(ctx: click.Context, subject: str, pool: str) -> None:
    """Before the check: FILE says the run did not finish, until the run's own report replaces it.

    So a run that is killed, or fails in any way, never leaves an older passing report behind;
    the --metrics textfile, likewise, is not ok until the verdict replaces it.
    """
    run = run_of(ctx)
    if run.metrics is not None:
        from pmpoolctl.output.metrics import metrics_error_text

        run.metrics.pool = pool
        write_report(run, run.metrics, metrics_error_text(pool, DID_NOT_FINISH, run.started))
    request = run.junit
    if request is None:
        return
    from pmpoolctl.output.junit import junit_error_xml

    request.subject = subject
    message = f"{request.command} did not finish (it was killed, or is still running)"
    write_report(run, request, junit_error_xml(request.command, subject, message, None, run.report_context()))
