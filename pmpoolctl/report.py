"""Rendering for people (rich) and for scripts (JSON). The only module besides the CLI that uses rich."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pmpoolctl.binding import Pool
from pmpoolctl.blob import Blob
from pmpoolctl.dts import format_value
from pmpoolctl.numbers import hex_address, human_size
from pmpoolctl.ranges import Range, RangeSet

DUMP_SCHEMA = "pmpoolctl.dump/v1"


def make_console(*, stderr: bool = False, no_color: bool = False) -> Console:
    """The console: markup and highlighting off (memory-map text has brackets), NO_COLOR honoured by rich."""
    return Console(stderr=stderr, markup=False, highlight=False, no_color=no_color or None, soft_wrap=True)


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _bytes(size: int) -> str:
    """`N bytes`, with binary units beside it once they say something."""
    return f"{size} bytes" if size < 1024 else f"{size} bytes ({human_size(size)})"


def range_json(r: Range) -> dict[str, int]:
    return {"base": r.base, "size": r.size, "end": r.end}


def dump_json(blob: Blob, pool: Pool | None, source: str) -> dict[str, Any]:
    """The `dump --json` document (schema pmpoolctl.dump/v1)."""
    header = blob.header
    document: dict[str, Any] = {
        "schema": DUMP_SCHEMA,
        "file": source,
        "header": {
            "version": header.version,
            "last_comp_version": header.last_comp_version,
            "totalsize": header.totalsize,
            "boot_cpuid_phys": header.boot_cpuid_phys,
            "off_dt_struct": header.off_dt_struct,
            "off_dt_strings": header.off_dt_strings,
            "off_mem_rsvmap": header.off_mem_rsvmap,
            "size_dt_struct": header.size_dt_struct,
            "size_dt_strings": header.size_dt_strings,
        },
        "reservations": [{"address": e.address, "size": e.size} for e in blob.reservations],
        "pool": None,
    }
    if pool is not None:
        document["pool"] = {
            "path": pool.path,
            "compatible": pool.compatible,
            "page_size": pool.page_size,
            "ranges": [range_json(r) for r in pool.ranges],
            "total_bytes": pool.total_bytes,
            "total_pages": pool.total_pages,
            "other_properties": [
                {"name": n, "value": format_value(v) if v else None} for n, v in pool.extra_properties()
            ],
            "problems": [{"rule": p.rule, "severity": p.severity.value, "message": p.message} for p in pool.problems],
        }
    return document


def _ranges_table(ranges: list[Range], page_size: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for title in ("#", "base", "end", "bytes", "size", "pages"):
        table.add_column(title, justify="left" if title in ("base", "end") else "right", no_wrap=True)
    for index, r in enumerate(ranges):
        table.add_row(
            str(index),
            hex_address(r.base),
            hex_address(r.end),
            str(r.size),
            human_size(r.size),
            str(r.size // page_size),
        )
    return table


def render_dump(console: Console, blob: Blob, pool: Pool | None, source: str, pool_name: str) -> None:
    header = blob.header
    used = header.off_dt_strings + header.size_dt_strings
    console.print(f"{source}: FDT version {header.version} (last compatible {header.last_comp_version})")
    console.print(f"  totalsize {_bytes(header.totalsize)}, boot CPU {header.boot_cpuid_phys:#x}")
    console.print(
        f"  structure block {header.size_dt_struct} bytes at {header.off_dt_struct:#x}, "
        f"strings block {header.size_dt_strings} bytes at {header.off_dt_strings:#x}, "
        f"{max(header.totalsize - used, 0)} bytes free"
    )
    console.print()
    if blob.reservations:
        count = len(blob.reservations)
        console.print(
            f"Memory reservation block at {header.off_mem_rsvmap:#x}: {count} {_plural(count, 'entry', 'entries')}"
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for title in ("#", "address", "end", "size"):
            table.add_column(title, justify="left" if title in ("address", "end") else "right", no_wrap=True)
        for index, entry in enumerate(blob.reservations):
            table.add_row(
                str(index), hex_address(entry.address), hex_address(entry.address + entry.size), human_size(entry.size)
            )
        console.print(table)
    else:
        console.print(f"Memory reservation block at {header.off_mem_rsvmap:#x}: empty")
    console.print()
    if pool is None:
        console.print(f"Pool /{pool_name}: none")
        return
    console.print(
        f'Pool {pool.path}: compatible "{pool.compatible}", page size {pool.page_size} ({human_size(pool.page_size)})'
    )
    for name, value in pool.extra_properties():
        console.print(f"  {name} = {format_value(value)};" if value else f"  {name};")
    if pool.ranges:
        console.print(_ranges_table(pool.ranges, pool.page_size))
    else:
        console.print()
    console.print(f"Total: {len(pool.ranges)} ranges, {_bytes(pool.total_bytes)}, {pool.total_pages} pages")
    for problem in pool.problems:
        console.print(f"{problem.severity.value}: {problem.message} [{problem.rule}]")


def _totals(ranges: RangeSet, page_size: int) -> str:
    total = ranges.total_size
    return f"{len(ranges)} {_plural(len(ranges), 'range', 'ranges')}, {human_size(total)}, {total // page_size} pages"


def render_change(
    console: Console, source: str, pool_path: str, before: RangeSet, after: RangeSet, page_size: int, *, dry_run: bool
) -> None:
    """What an edit changes: canonical ranges that go (-) and come (+), and the totals."""
    old, new = set(before.ranges()), set(after.ranges())
    verb = "would change" if dry_run else "changed"
    if old == new:
        console.print(f"{source}: {pool_path}: no change" + (" (dry run)" if dry_run else ""))
        return
    console.print(f"{source}: {pool_path} {verb}" + (" (dry run, nothing written)" if dry_run else ""))
    if dry_run:
        for r in sorted(old - new):
            console.print(f"  - {r}  {human_size(r.size)}")
        for r in sorted(new - old):
            console.print(f"  + {r}  {human_size(r.size)}")
    console.print(f"  before: {_totals(before, page_size)}")
    console.print(f"  after:  {_totals(after, page_size)}")
