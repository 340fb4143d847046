"""Commands that show what a file holds: `dump` (a blob and its pool), `memmap` (a map as validate reads it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pmpoolctl import api
from pmpoolctl.cli import exitcodes
from pmpoolctl.cli.context import run_of
from pmpoolctl.cli.options import (
    PATH,
    booted_option,
    booted_or_path,
    common_options,
    json_option,
    memmap_format,
    pool_option,
)
from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import STDIN
from pmpoolctl.text import printable

if TYPE_CHECKING:
    from pmpoolctl.dtb.model import Blob


@click.command()
@click.argument("blob_path", metavar="[BLOB]", type=PATH, required=False)
@pool_option
@json_option("pmpoolctl.dump/v1")
@click.option("--dts", "as_dts", is_flag=True, help="Print the whole tree as DTS that dtc compiles back.")
@booted_option
@common_options
@click.pass_context
def dump(ctx: click.Context, blob_path: str | None, pool_name: str, as_json: bool, as_dts: bool, booted: bool) -> int:
    """Show BLOB's header, reservation block and pool (BLOB may be - for stdin).

    --booted reads the device tree this kernel was booted with instead:
    /sys/firmware/fdt, or on x86 the setup_data entry of type 2 (SETUP_DTB)
    in /sys/kernel/boot_params/setup_data.

    \b
    Example:
      pmpoolctl dump pool.dtb
      pmpoolctl dump pool.dtb --json | jq .pool.total_pages
      pmpoolctl dump pool.dtb --dts | dtc -I dts -O dtb -o copy.dtb
      pmpoolctl dump --booted
    """
    if as_json and as_dts:
        raise click.UsageError("--json and --dts exclude each other")
    booted_or_path(blob_path, booted, "BLOB")
    blob = api.booted_blob() if blob_path is None else api.read_blob(blob_path)
    pool_explicit = ctx.get_parameter_source("pool_name") is not click.core.ParameterSource.DEFAULT
    run = run_of(ctx)
    if as_dts:  # the tree as it is: the pool need not be decoded (0.15 s at 1M ranges)
        if pool_explicit and not api.has_pool(blob, pool_name):
            raise InputError(_missing_pool(blob, pool_name))
        from pmpoolctl.dtb.dts import render_dts

        run.stdout.writelines(render_dts(blob, frozenset({pool_name})))
        return exitcodes.OK
    pool = api.find_pool(blob, pool_name)
    if pool is None and pool_explicit:
        raise InputError(_missing_pool(blob, pool_name))
    from pmpoolctl.output import dump as report

    pools = api.find_pools(blob, [] if pool is None else [pool])
    if as_json:
        run.print_json(report.dump_json(blob, pool, blob.source, pools))
    else:
        report.render_dump(run.console(), blob, pool, blob.source, pool_name, pools)
    return exitcodes.OK


def _missing_pool(blob: Blob, name: str) -> str:
    """`no pool node /NAME`, naming the pools the blob has instead."""
    from pmpoolctl.pool.poolfile import missing_pool_message

    return missing_pool_message(blob, name)


@click.command()
@click.argument("source", metavar="SRC", type=PATH)
@memmap_format("The format of SRC (detected when not given).")
@json_option("pmpoolctl.memmap/v1")
@common_options
@click.pass_context
def memmap(ctx: click.Context, source: str, memmap_format: str | None, as_json: bool) -> int:
    """Print the memory map in SRC as validate reads it.

    SRC is /proc/iomem text, a /sys/firmware/memmap directory, a kernel log
    (dmesg, journalctl -k, syslog: the last boot's e820 table), JSON, a .dtb,
    or the segments a kexec load writes (the output of kexec -l/-s ... -d);
    - reads stdin. FORMAT:SRC names the format (e820:boot.log); a file whose
    name starts that way is ./e820:x.

    \b
    Example:
      pmpoolctl memmap /proc/iomem
      dmesg | pmpoolctl memmap - --json
      pmpoolctl memmap e820:/var/log/kern.log
    """
    from pmpoolctl.output import memmap as report

    maps = api.load_memory_maps([source], memmap_format)  # a host capture holds several
    run = run_of(ctx)
    if as_json:
        run.print_json(report.memmap_json(maps[0]) if len(maps) == 1 else report.memmaps_json(source, maps))
    else:
        for index, memory_map in enumerate(maps):
            if index:
                run.console().print()
            report.render_memmap(run.console(), memory_map)
    return exitcodes.OK


@click.command()
@click.argument("out", metavar="OUT", type=PATH)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@common_options
@click.pass_context
def capture(ctx: click.Context, out: str, force: bool) -> int:
    """Write OUT: one JSON file of everything a validation on this host reads.

    /proc/iomem, /sys/firmware/memmap, the e820 lines of this boot's kernel log
    (/dev/kmsg, else dmesg), the CPU's physical address width, /proc/cmdline,
    and the KHO scratch areas and state (kernel/debug/kho/out) where present,
    with the host name and the time (schema pmpoolctl.capture/v1). What cannot
    be read is said, in the file and on stderr. validate --memmap OUT then
    checks a blob against this host from anywhere: its maps, and its CPU's
    width unless --phys-bits says otherwise. $PMPOOLCTL_PROC, $PMPOOLCTL_SYSFS
    and $PMPOOLCTL_KMSG replace /proc, /sys and /dev/kmsg. OUT may be - for
    standard output.

    Run it as root (other users see /proc/iomem's addresses as 0); then, on
    any machine: pmpoolctl validate next.dtb --memmap host-a.json.

    \b
    Example:
      pmpoolctl capture host-a.json
      pmpoolctl capture - | gzip > host-a.json.gz
      pmpoolctl capture "captures/$(hostname).json" --force
    """
    run = run_of(ctx)
    if out == STDIN and run.quiet:  # the capture would go to /dev/null, and exit 0 say it was made
        raise click.UsageError("capture - writes the capture to standard output, which --quiet silences")
    captured = api.capture(api.TO_BYTES if out == STDIN else out, force=force)
    if captured.data is not None:
        run.stdout.write(captured.data.decode("utf-8"))
        run.stdout.flush()
    for line in captured.missing:  # said, never as an `error:` line: the capture is written
        click.echo(printable(f"note: not captured: {line}"), err=True)
    if captured.written is not None:
        run.console().print(f"{captured.file}: captured {captured.document['host']} at {captured.document['time']}")
    return exitcodes.OK
