"""The options and argument types the commands share, each defined once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from pmpoolctl.cli.context import JUnitRequest, MetricsRequest, run_of
from pmpoolctl.errors import NumberError, PoolNameError
from pmpoolctl.files.inputs import display_name
from pmpoolctl.memmap import FORMATS
from pmpoolctl.numbers import parse_number
from pmpoolctl.pool.binding import DEFAULT_PAGE_SIZE, DEFAULT_POOL, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from pmpoolctl.pool.names import checked_name


class NumberType(click.ParamType):  # type: ignore[type-arg]
    """An address or size: decimal, 0x hex, K/M/G/T/P/E suffixes, at most 64 bits."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_number(str(value))
        except NumberError as exc:
            self.fail(str(exc), param, ctx)


NUMBER = NumberType()


class PathType(click.Path):
    """A path as typed; shells complete it as a file.

    Only what can never name a file is refused here (a NUL byte, text the file system
    cannot encode: from a script, as argv cannot hold them); whether the file can be read
    is the command's to say, with its own exit 3 (readable=True would make that exit 2).
    """

    def __init__(self) -> None:
        super().__init__(readable=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            try:
                encoded = os.fsencode(value)
            except UnicodeEncodeError:
                self.fail(f"'{display_name(value)}' is not a file name (not encodable text)", param, ctx)
            if b"\0" in encoded:
                self.fail(f"'{display_name(value)}' is not a file name (it holds a NUL byte)", param, ctx)
        return super().convert(value, param, ctx)


PATH = PathType()


def _pool_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--pool NAME, or /NAME as dump prints a pool's path: the node's name (exactly; NAME@UNIT too)."""
    try:
        return checked_name(value)
    except PoolNameError as exc:
        raise click.BadParameter(str(exc)) from None


def _new_pool_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """create's --pool: a name the binding lets a new pool node have (no unit address)."""
    try:
        return checked_name(value, new=True)
    except PoolNameError as exc:
        raise click.BadParameter(str(exc)) from None


def check_page_size(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if not MIN_PAGE_SIZE <= value <= MAX_PAGE_SIZE or value & (value - 1):
        raise click.BadParameter(
            f"{value} is not a power of two from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE:#x} (page-size is a u32)"
        )
    return value


pool_option = click.option(
    "--pool",
    "pool_name",
    default=DEFAULT_POOL,
    show_default=True,
    callback=_pool_name,
    metavar="NAME",
    help="The pool node, a child of the root: NAME or /NAME (as dump prints it).",
)

new_pool_option = click.option(
    "--pool",
    "pool_name",
    default=DEFAULT_POOL,
    show_default=True,
    callback=_new_pool_name,
    metavar="NAME",
    help="The new pool node's name, a child of the root: at most 31 letters, digits and ,._+-, no unit address.",
)


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not run_of(ctx).quiet:
        run_of(ctx).quiet = True
        # Nothing goes to stdout (the run's stdout is /dev/null for tables, JSON, DTS); errors still go to stderr.
        ctx.find_root().call_on_close(run_of(ctx).close)


def _set_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        run_of(ctx).no_color = True


quiet_option = click.option(
    "-q",
    "--quiet",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_quiet,
    help="Print nothing on stdout; the exit code tells (errors still go to stderr).",
)
no_color_option = click.option(
    "--no-color",
    is_flag=True,
    expose_value=False,
    callback=_set_no_color,
    help="No colour in output (NO_COLOR is honoured too).",
)


def _set_ascii(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        run_of(ctx).ascii = True


ascii_option = click.option(
    "--ascii",
    is_flag=True,
    expose_value=False,
    callback=_set_ascii,
    help="Draw tables with ASCII only (the default where stdout cannot encode the box-drawing rule).",
)


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        run_of(ctx).json = True
    return value


def json_option(schema: str) -> Callable[[Any], Any]:
    """--json: the output as `schema`; a failed run prints a pmpoolctl.error/v1 document instead."""
    return click.option(
        "--json", "as_json", is_flag=True, is_eager=True, callback=_remember_json, help=f"Print JSON (schema {schema})."
    )


def options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator, in the order given."""

    def apply(function: Any) -> Any:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def common_options(function: Any) -> Any:
    """--quiet, --no-color and --ascii, which every command takes as well as the group."""
    return quiet_option(no_color_option(ascii_option(function)))


booted_option = click.option(
    "--booted",
    is_flag=True,
    help="Read what this kernel was booted with (sysfs; $PMPOOLCTL_SYSFS replaces /sys) instead of a file.",
)


def booted_or_path(path: str | None, booted: bool, what: str) -> None:
    """Exactly one of PATH and --booted."""
    if booted and path is not None:
        raise click.UsageError(f"give {what} or --booted, not both")
    if not booted and path is None:
        raise click.UsageError(f"give {what}, or --booted for what this kernel was booted with")


def memmap_format(help_text: str) -> Callable[[Any], Any]:
    """--memmap-format: one of the map formats, detected when not given."""
    return click.option("--memmap-format", type=click.Choice(FORMATS), help=help_text)


memmap_format_option = memmap_format(
    "The format of every memory map given with --memmap (detected when not given; FORMAT:SRC names one map's); "
    "--live's maps are always detected."
)


def _phys_bits(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 64:
        raise click.BadParameter(f"{value} is not from 1 to 64")
    return value


# What every report option (--junit, --metrics, --html, --svg) says of its FILE (cli/reportpaths.py).
def one_report_file(param: click.Parameter, paths: tuple[str, ...]) -> str | None:
    """A report option's FILE, given once. click would keep the last of several and leave the others
    as they were, so a script reading the first would read an older run's report: a usage error."""
    if len(paths) > 1:
        shown = ", ".join(map(display_name, paths))
        raise click.BadParameter(f"given {len(paths)} times ({shown}): give one FILE", param=param)
    return paths[0] if paths else None


REPORT_FILE_HELP = (
    "FILE must not be - (stdout is the run's own; ./- names a file -), an input of the run, an FDT blob "
    "or a non-regular file (exit 2)."
)

# What validate and kho validate check against, and how they answer: the same flags for both.
map_options = options(
    click.option(
        "--memmap",
        "memmaps",
        multiple=True,
        metavar="SRC",
        type=PATH,
        help="A memory map to check against (repeatable); FORMAT:SRC names its format (e820:boot.log).",
    ),
    memmap_format_option,
    click.option(
        "--live",
        is_flag=True,
        help="Check against this host: --memmap /proc/iomem --memmap /sys/firmware/memmap, and ranges must "
        "end within the CPU's physical address width (/proc/cpuinfo) unless --phys-bits says otherwise; "
        "validate and map also hold the pool to this host's KHO state where it has one "
        "(/sys/kernel/debug/kho/out, as --kho reads it) unless --kho names another.",
    ),
)
phys_bits_option = click.option(
    "--phys-bits", type=int, callback=_phys_bits, metavar="N", help="Ranges must end at or below 2^N."
)
verdict_options = options(
    phys_bits_option,
    click.option("--strict", is_flag=True, help="Warnings fail the run too."),
    json_option("pmpoolctl.validate/v1"),
    click.option(
        "--junit",
        "junit_path",
        metavar="FILE",
        type=PATH,
        multiple=True,  # to refuse a second --junit (one_report_file)
        is_eager=True,  # known before any other option can fail, so a usage error replaces FILE too
        callback=lambda ctx, param, value: _remember_junit(ctx, one_report_file(param, value)),
        help="Also write a JUnit XML report to FILE (an error report when the check cannot run). " + REPORT_FILE_HELP,
    ),
    click.option(
        "--github",
        is_flag=True,
        help="Print GitHub Actions workflow commands (::error file=...,line=...) for the findings, and append "
        "a markdown summary to $GITHUB_STEP_SUMMARY when it is set.",
    ),
    click.option(
        "--metrics",
        "metrics_path",
        metavar="FILE",
        type=PATH,
        multiple=True,  # as --junit
        is_eager=True,  # as --junit: a run that fails in any way leaves a not-ok FILE
        callback=lambda ctx, param, value: _remember_metrics(ctx, one_report_file(param, value)),
        help="Also write a Prometheus textfile to FILE, atomically (node_exporter's textfile collector). "
        + REPORT_FILE_HELP,
    ),
)


def metrics_pool_label(command_path: str) -> str:
    """The pool label of a --metrics textfile until the command knows its pool (an option's error comes first)."""
    return "/memblock" if command_path.endswith("kho validate") else "/" + DEFAULT_POOL


def _remember_metrics(ctx: click.Context, path: str | None) -> str | None:
    if path is not None:
        run_of(ctx).metrics = MetricsRequest(path, metrics_pool_label(ctx.command_path))
    return path


def _remember_junit(ctx: click.Context, path: str | None) -> str | None:
    if path is not None:
        run_of(ctx).junit = JUnitRequest(path, ctx.command_path)
    return path


byte_order_option = click.option(
    "--byte-order",
    type=click.Choice(["little", "big"]),
    default="little",
    show_default=True,
    help="Byte order of KHO's u64 values: the CPU's that wrote them.",
)
next_kernel_option = click.option(
    "--next-kernel",
    "next_kernel",
    metavar="IMAGE",
    type=PATH,
    help="The kernel to kexec (vmlinux, Image, bzImage, Image.gz, vmlinuz): it must know the ABIs handed over.",
)


def page_size_option(help_text: str) -> Callable[[Any], Any]:
    """--page-size: a power of two that a u32 holds, 4 KiB unless given."""
    return click.option(
        "--page-size",
        type=NUMBER,
        default=DEFAULT_PAGE_SIZE,
        show_default=True,
        callback=check_page_size,
        help=help_text,
    )
