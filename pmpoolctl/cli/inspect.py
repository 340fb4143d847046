"""Commands that show what a file holds: `dump` (a blob and its pool), `memmap` (a map as validate reads it)."""

from __future__ import annotations

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
    memmap_format_option,
    pool_option,
)
from pmpoolctl.errors import InputError


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
            raise InputError(f"{blob.source}: no pool node /{pool_name}")
        from pmpoolctl.dtb.dts import render_dts

        run.stdout.writelines(render_dts(blob, frozenset({pool_name})))
        return exitcodes.OK
    pool = api.find_pool(blob, pool_name)
    if pool is None and pool_explicit:
        raise InputError(f"{blob.source}: no pool node /{pool_name}")
    from pmpoolctl.output import dump as report

    if as_json:
        run.print_json(report.dump_json(blob, pool, blob.source))
    else:
        report.render_dump(run.console(), blob, pool, blob.source, pool_name)
    return exitcodes.OK


@click.command()
@click.argument("source", metavar="SRC", type=PATH)
@memmap_format_option
@json_option("pmpoolctl.memmap/v1")
@common_options
@click.pass_context
def memmap(ctx: click.Context, source: str, memmap_format: str | None, as_json: bool) -> int:
    """Print the memory map in SRC as validate reads it.

    SRC is /proc/iomem text, a /sys/firmware/memmap directory, a kernel log
    (dmesg, journalctl -k, syslog: the last boot's e820 table), JSON or a .dtb;
    - reads stdin. FORMAT:SRC names the format (e820:boot.log); a file whose
    name starts that way is ./e820:x.

    \b
    Example:
      pmpoolctl memmap /proc/iomem
      dmesg | pmpoolctl memmap - --json
      pmpoolctl memmap e820:/var/log/kern.log
    """
    from pmpoolctl.output import memmap as report

    memory_map = api.load_memory_map(source, memmap_format)
    run = run_of(ctx)
    if as_json:
        run.print_json(report.memmap_json(memory_map))
    else:
        report.render_memmap(run.console(), memory_map)
    return exitcodes.OK
