"""`map` (the address space in the terminal) and the pictures `map` and `validate` write: `--html`, `--svg`."""

from __future__ import annotations

import shutil
from typing import Any

import click

from pmpoolctl import api
from pmpoolctl.cli import exitcodes
from pmpoolctl.cli.context import HtmlRequest, Run, SvgRequest, run_of
from pmpoolctl.cli.options import (
    NUMBER,
    PATH,
    REPORT_FILE_HELP,
    byte_order_option,
    common_options,
    map_options,
    one_report_file,
    options,
    phys_bits_option,
    pool_option,
)
from pmpoolctl.cli.reportpaths import claim_reports, refuse_standard_input_twice, write_report
from pmpoolctl.files.inputs import display_name


def _remember_html(ctx: click.Context, param: click.Parameter, paths: tuple[str, ...]) -> str | None:
    path = one_report_file(param, paths)
    if path is not None:
        run_of(ctx).html = HtmlRequest(path, ctx.command_path)
    return path


def _remember_svg(ctx: click.Context, param: click.Parameter, paths: tuple[str, ...]) -> str | None:
    path = one_report_file(param, paths)
    if path is not None:
        run_of(ctx).svg = SvgRequest(path, ctx.command_path)
    return path


picture_options = options(
    click.option(
        "--html",
        "html_path",
        metavar="FILE",
        type=PATH,
        multiple=True,  # to refuse a second one (one_report_file)
        is_eager=True,  # known before any other option can fail, so a usage error replaces FILE too
        callback=_remember_html,
        help="Also write a self-contained HTML report to FILE: verdict, findings, the address space with each "
        "finding marked (an error page when the run cannot finish). " + REPORT_FILE_HELP,
    ),
    click.option(
        "--svg",
        "svg_path",
        metavar="FILE",
        type=PATH,
        multiple=True,  # as --html
        is_eager=True,  # as --html
        callback=_remember_svg,
        help="Also write the picture of the address space to FILE (SVG; one that says the run did not complete "
        "when it cannot finish). " + REPORT_FILE_HELP,
    ),
)


def begin_pictures(ctx: click.Context, subject: str) -> None:
    """Before the work: each FILE says the run did not finish, until the run's own page or picture replaces it."""
    run = run_of(ctx)
    unfinished = "it was killed, or is still running"
    if run.html is not None:
        from pmpoolctl.output.html import html_error_page

        run.html.subject = subject
        write_report(run, run.html, html_error_page(run.html.command, subject, unfinished, None).encode())
    if run.svg is not None:
        from pmpoolctl.output.svg import svg_error_document

        run.svg.subject = subject
        write_report(run, run.svg, svg_error_document(run.svg.command, subject, unfinished, None).encode())


def write_pictures(
    run: Run,
    space: api.AddressSpace,
    title: str,
    summary: str,
    verdict: Any = None,
    notes: tuple[str, ...] = (),
    view: tuple[int | None, int | None] = (None, None),
) -> None:
    """--html and --svg: the page and the picture, each written as safely as a blob (resolved, locked, atomic)."""
    if run.html is None and run.svg is None:
        return
    from pmpoolctl.output import html, svg

    drawn = space.picture(svg.PLOT_WIDTH, svg.GAP_PIXELS, *view)
    if run.svg is not None:
        write_report(run, run.svg, svg.svg_document(drawn, title).encode())
    if run.html is not None:
        page = html.html_report(title, summary, drawn, space.findings, verdict, notes)
        write_report(run, run.html, page.encode())


def verdict_of(validation: api.Validation, strict: bool) -> Any:
    from pmpoolctl.output.html import Verdict

    return Verdict(validation.passes(strict), validation.errors, validation.warnings)


@click.command("map")
@click.argument("blob_path", metavar="[BLOB]", type=PATH, required=False)
@map_options
@pool_option
@click.option(
    "--kho",
    "kho_path",
    metavar="PATH",
    type=PATH,
    help="KHO state (a kho/out directory): draw its scratch areas and what it preserves.",
)
@byte_order_option
@phys_bits_option
@click.option("--from", "view_from", type=NUMBER, metavar="ADDRESS", help="Draw from this address (default: lowest).")
@click.option("--to", "view_to", type=NUMBER, metavar="ADDRESS", help="Draw up to this address (default: highest).")
@picture_options
@common_options
@click.pass_context
def map_command(
    ctx: click.Context,
    blob_path: str | None,
    memmaps: tuple[str, ...],
    memmap_format: str | None,
    live: bool,
    pool_name: str,
    kho_path: str | None,
    byte_order: str,
    phys_bits: int | None,
    view_from: int | None,
    view_to: int | None,
    html_path: str | None,
    svg_path: str | None,
) -> int:
    """Draw the physical address space: a lane each for RAM, reserved memory, the kernel image, the crash kernel,
    the blob's reservations, KHO scratch and preserved regions, and the pool.

    Stretches where no lane starts or ends (an empty stretch, the inside of one
    long RAM span) are compressed to a few columns with their size written in,
    so a 4 KiB range stays visible in a TiB address space; --from and --to zoom.
    With BLOB its pool is checked as validate checks it and every finding is
    marked (E, W); without --memmap the blob's own /memory nodes are the map.
    Colour and blocks on a terminal, ASCII on a pipe; the width is the
    terminal's (COLUMNS). Exit 0 whatever the findings: validate is the gate.

    \b
    Example:
      pmpoolctl map next.dtb --memmap /proc/iomem
      pmpoolctl map next.dtb --live --from 4G --to 8G
      pmpoolctl map --memmap /proc/iomem --kho /sys/kernel/debug/kho/out
      pmpoolctl map next.dtb --memmap iomem.txt --html map.html --svg map.svg
    """
    from pmpoolctl.output.mapview import GAP_COLUMNS, plot_width, render_map

    claim_reports(ctx)
    refuse_standard_input_twice(ctx)
    if blob_path is None and not memmaps and not live and kho_path is None:
        raise click.UsageError("nothing to draw: give BLOB, --memmap SRC, --live or --kho PATH")
    if view_from is not None and view_to is not None and view_to <= view_from:
        raise click.UsageError(f"--to {view_to:#x} is not above --from {view_from:#x}")
    if view_to == 0:  # the view ends before it begins, whatever the lanes hold
        raise click.UsageError("--to 0x0 leaves nothing to draw: the view ends before the first address")
    subject = display_name(blob_path) if blob_path is not None else "the address space"
    begin_pictures(ctx, subject)
    space = api.address_space(
        blob_path,
        memmaps,
        memmap_format=memmap_format,
        live=live,
        pool=pool_name,
        kho=kho_path,
        byte_order=byte_order,
        phys_bits=phys_bits,
    )
    heading = _heading(space, blob_path, pool_name, kho_path)
    verdict = None if space.validation is None else verdict_of(space.validation, strict=False)
    run = run_of(ctx)
    write_pictures(run, space, f"pmpoolctl map {subject}", heading, verdict, (), (view_from, view_to))
    columns = shutil.get_terminal_size((80, 24)).columns
    drawn = space.picture(plot_width(columns, [lane.label for lane in space.lanes]), GAP_COLUMNS, view_from, view_to)
    render_map(run.console(), drawn, heading, space.findings)
    return exitcodes.OK


def _heading(space: api.AddressSpace, blob_path: str | None, pool_name: str, kho_path: str | None) -> str:
    from pmpoolctl.output.check import validate_summary
    from pmpoolctl.output.memmap import memmap_label

    if space.validation is not None:
        text = validate_summary(space.validation.report, space.validation.source)
    else:
        text = ", ".join(f"{m.source} ({memmap_label(m)})" for m in space.maps) or "no memory map"
        if blob_path is not None:
            text = f"{display_name(blob_path)}: no pool /{pool_name}; drawn against {text}"
    return text + (f"; KHO state {display_name(kho_path)}" if kho_path is not None else "")
