"""`memmap`: a memory map as validate reads it, as text and as pmpoolctl.memmap/v1 JSON."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pmpoolctl.numbers import counted, human_size
from pmpoolctl.output.common import print_table
from pmpoolctl.output.console import Console
from pmpoolctl.output.jsonwriter import INTEGER, JSON_TEXT, Records, json_strings
from pmpoolctl.output.tables import Cells, Column

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    from pmpoolctl.memmap.model import MapEntry, MemoryMap

MEMMAP_SCHEMA = "pmpoolctl.memmap/v1"


def memmap_summary(memory_map: MemoryMap) -> dict[str, Any]:
    """A map in validate's JSON; `note` only when the source held more than the map (a log's last boot)."""
    summary: dict[str, Any] = {
        "source": memory_map.source,
        "format": memory_map.format,
        "entries": len(memory_map.entries),
    }
    if memory_map.note:
        summary["note"] = memory_map.note
    return summary


def memmap_label(memory_map: MemoryMap) -> str:
    """`FORMAT, N entries[, NOTE]`: how a map is named in text output."""
    note = f", {memory_map.note}" if memory_map.note else ""
    return f"{memory_map.format}, {counted(len(memory_map.entries), 'entry', 'entries')}{note}"


def memmap_json(memory_map: MemoryMap) -> dict[str, Any]:
    """The `memmap --json` document (schema pmpoolctl.memmap/v1); write it with `jsonout.write_json`."""
    entries = memory_map.entries
    fields = [("start", INTEGER), ("end", INTEGER), ("type", JSON_TEXT), ("class", JSON_TEXT), ("source", JSON_TEXT)]

    def columns(start: int, stop: int) -> tuple[list[Any], ...]:
        rows = entries[start:stop]
        return (
            [e.start for e in rows],
            [e.end for e in rows],
            json_strings(e.type for e in rows),
            json_strings(e.kind for e in rows),
            json_strings(e.source for e in rows),
        )

    document: dict[str, Any] = {"schema": MEMMAP_SCHEMA, "source": memory_map.source, "format": memory_map.format}
    if memory_map.note:
        document["note"] = memory_map.note
    document["entries"] = Records(fields, len(entries), columns)
    return document


def render_memmap(console: Console, memory_map: MemoryMap) -> None:
    entries = memory_map.entries
    console.print(f"{memory_map.source}: {memmap_label(memory_map)}")

    def cells(formatter: Callable[[MapEntry], str]) -> Cells:  # made per chunk, never for all rows at once
        return lambda start, stop: map(formatter, entries[start:stop])

    columns = [
        Column("start", cells(lambda e: f"{e.start:#x}")),
        Column("end", cells(lambda e: f"{e.end:#x}")),
        Column("size", cells(lambda e: human_size(e.end - e.start)), right=True),
        Column("class", cells(attrgetter("kind"))),
        Column("type", cells(attrgetter("type")), wrap=True),
        Column("source", cells(attrgetter("source")), wrap=True),
    ]
    print_table(console, columns, len(entries))
