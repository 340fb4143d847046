"""`kho dump` and `kho validate`: Kexec HandOver state, what the next kernel receives, and its side of the handover."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from pmpoolctl import api
from pmpoolctl.cli import exitcodes
from pmpoolctl.cli.check import begin_reports, progress_of, report_validation
from pmpoolctl.cli.context import run_of
from pmpoolctl.cli.options import (
    PATH,
    booted_option,
    booted_or_path,
    byte_order_option,
    common_options,
    json_option,
    map_options,
    next_kernel_option,
    page_size_option,
    verdict_options,
)
from pmpoolctl.cli.pictures import begin_pictures, picture_options
from pmpoolctl.cli.reportpaths import claim_reports, refuse_standard_input_twice
from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import display_name, read_input

if TYPE_CHECKING:
    from pmpoolctl.kho.cmdline import NextCmdline


@click.group("kho", invoke_without_command=True, subcommand_metavar="COMMAND [ARGS]...")
@common_options
@click.pass_context
def kho(ctx: click.Context) -> None:
    """Inspect and check Linux Kexec HandOver (KHO) state (Linux 6.16+).

    KHO hands state to the next kernel in a root FDT whose u64 values are in
    the CPU's byte order (little-endian on x86 and arm64), which dtc and
    fdtget print wrongly, and sub-blobs, one per user (memblock, LUO, ...).
    PATH is a root FDT, or a directory laid out like /sys/kernel/debug/kho/out
    (fdt, sub_fdts/, scratch_phys, scratch_len; or kho/in).

    \b
    Root versions and what to do with each before kexec:
      kho-v1  6.16-7.0: users' sub-FDTs in 'fdt'. 6.16-6.18 write kho/out/fdt
              only after 'echo 1 > /sys/kernel/debug/kho/out/finalize'; 6.19
              and 7.0 show it from boot with preserved-memory-map 0 until
              finalize (LUO finalizes at reboot). Finalize, then copy kho/out.
      kho-v2  the mm tree in early 2026 only (short-lived): 'preserved-data',
              a radix-tree memory map from boot, no finalize.
      kho-v3  ~7.1, and kho-v4 ~7.2 (current): 'preserved-data' and
              'blob-size'; a sub-blob may be any format (kexec-metadata, a
              raw LUO). No finalize: copy kho/out when the state is complete.
      kho-v4;radix-v1;vmalloc-v1  the root version, then its component ABIs.
    Load the next kernel with kexec -s (kexec_file_load), the only way KHO is
    passed on.

    \b
    Example:
      pmpoolctl kho dump /sys/kernel/debug/kho/out
      pmpoolctl kho validate /sys/kernel/debug/kho/out --live
      pmpoolctl kho dump --booted
    """
    if ctx.invoked_subcommand is None:  # as bare `pmpoolctl`: the help on stdout, and the usage status
        click.echo(ctx.get_help())
        ctx.exit(exitcodes.USAGE)


@kho.command("dump")
@click.argument("path", metavar="[PATH]", type=PATH, required=False)
@byte_order_option
@json_option("pmpoolctl.kho/v1")
@booted_option
@common_options
@click.pass_context
def kho_dump(ctx: click.Context, path: str | None, byte_order: str, as_json: bool, booted: bool) -> int:
    """Show what the next kernel receives by KHO: the root, every user's sub-blob, the scratch areas.

    Every root version is decoded (kho-v1 to kho-v4, the compound form; an
    unknown one as far as the common layout goes, and said so). memblock's
    reserve_mem regions, LUO's FDT and kexec-metadata are decoded; other
    sub-blobs that are not FDTs are listed with their address and size.

    --booted shows the handover this kernel was booted with instead: on x86
    the setup_data entry of type 10 (SETUP_KEXEC_KHO), elsewhere
    /chosen/linux,kho-fdt in /sys/firmware/fdt, and the incoming state in
    /sys/kernel/debug/kho/in when debugfs shows it.

    \b
    Example:
      pmpoolctl kho dump /sys/kernel/debug/kho/out
      pmpoolctl kho dump kho-out/fdt --json | jq '.subtrees[].reserve_mem'
      pmpoolctl kho dump --booted --json
    """
    from pmpoolctl.output.kho import kho_json, render_kho

    booted_or_path(path, booted, "PATH")
    handover = None
    if path is None:
        from pmpoolctl.kho.booted import sysfs_root

        handover, path = api.booted_kho()
        if handover is None and path is None:
            raise InputError(
                f"{display_name(sysfs_root())}: this kernel was not booted through KHO: no setup_data of type 10 "
                "(SETUP_KEXEC_KHO), no /chosen/linux,kho-fdt in firmware/fdt, no kho/in in kernel/debug"
            )
    state = None if path is None else api.load_kho(path, byte_order)
    run = run_of(ctx)
    if as_json:
        run.print_json(kho_json(state, handover, booted))
    else:
        render_kho(run.console(), state, handover)
    return exitcodes.OK


@kho.command("validate")
@click.argument("path", metavar="PATH", type=PATH)
@map_options
@byte_order_option
@page_size_option("Regions must be aligned to it.")
@click.option(
    "--next-cmdline",
    "next_cmdline",
    metavar="TEXT|@FILE",
    help="The next kernel's command line (@FILE: read from FILE): it must request every reserve_mem region.",
)
@next_kernel_option
@verdict_options
@picture_options
@common_options
@click.pass_context
def kho_validate(
    ctx: click.Context,
    path: str,
    memmaps: tuple[str, ...],
    memmap_format: str | None,
    live: bool,
    byte_order: str,
    page_size: int,
    next_cmdline: str | None,
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
    """Check the KHO state in PATH before kexec: its regions, its state, the next kernel.

    \b
    - memblock's reserve_mem regions are held to the pool's map rules (same
      rule ids: range-outside-ram, range-in-reserved, range-in-kernel, ...),
      must be page-aligned, must not overlap, and must lie outside the KHO
      scratch areas (range-in-kho-scratch), as must every sub-blob;
    - preserved-memory-map 0 means the next kernel drops all KHO state
      (kho-not-finalized);
    - --next-cmdline: each region must be requested as
      reserve_mem=SIZE:ALIGN:NAME with its size and an ALIGN its start has
      (reserve-mem-not-requested); no kho=on is a warning (kho-not-requested),
      and with LUO state no liveupdate=on is an error (the same rule);
    - --next-kernel: the image must hold every compatible the state carries
      (abi-unknown-to-next-kernel).
    A root version this pmpoolctl does not know (kho-v1 to kho-v4 and their
    compound form are known), a sub-blob the root names that is not in PATH, or
    one whose size is not the root's blob-size, is exit 3: checking it would
    check nothing. --html FILE writes the report as one page with the address
    space drawn (the maps, the scratch areas, the regions) and every finding
    marked, --svg FILE the picture alone.

    \b
    Example:
      pmpoolctl kho validate /sys/kernel/debug/kho/out --live --junit kho.xml
      pmpoolctl kho validate kho-out --memmap iomem.txt --json
      pmpoolctl kho validate kho-out --live --next-cmdline @next-cmdline.txt --next-kernel /boot/vmlinuz-next
    """
    claim_reports(ctx)
    refuse_standard_input_twice(ctx)
    if not memmaps and not live:
        raise click.UsageError("give a memory map: --memmap SRC or --live (a KHO tree has no memory nodes)")
    if github and as_json:
        raise click.UsageError("--github and --json both write to standard output: give one")
    begin_reports(ctx, display_name(path), "/memblock")
    begin_pictures(ctx, display_name(path))
    result = api.validate_kho(
        path,
        memmaps,
        memmap_format=memmap_format,
        live=live,
        byte_order=byte_order,
        page_size=page_size,
        next_cmdline=None if next_cmdline is None else _next_cmdline(next_cmdline),
        next_kernel=next_kernel,
        phys_bits=phys_bits,
        progress=None if as_json else progress_of(ctx),
    )
    return report_validation(ctx, result, strict, as_json, github)


MAX_CMDLINE_BYTES = 1 << 20  # the kernel's COMMAND_LINE_SIZE is 2-4 KiB on most architectures


def _next_cmdline(value: str) -> NextCmdline:
    """--next-cmdline TEXT, or @FILE (- for stdin) read as bytes."""
    from pmpoolctl.kho.cmdline import parse_next_cmdline

    if value.startswith("@"):
        file_name = value[1:]
        raw = read_input(file_name, MAX_CMDLINE_BYTES)
        source = display_name(file_name)
        if b"\0" in raw:
            raise InputError(f"{source}: holds a NUL byte (at byte offset {raw.index(0):#x}): not a command line")
    else:
        try:
            raw = os.fsencode(value)
        except UnicodeEncodeError as exc:  # text from a script that no file system name could hold
            raise click.BadParameter("not encodable text", param_hint="'--next-cmdline'") from exc
        source = "--next-cmdline"
        if b"\0" in raw:
            raise click.BadParameter("holds a NUL byte", param_hint="'--next-cmdline'")
    return parse_next_cmdline(raw, source)
