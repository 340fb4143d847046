"""`memmap`: a memory map as validate reads it, as text and as pmpoolctl.memmap/v1 JSON."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter, sub
from typing import TYPE_CHECKING, Any

from pmpoolctl.numbers import counted
from pmpoolctl.output.common import print_table
from pmpoolctl.output.console import Console
from pmpoolctl.output.jsonwriter import INTEGER, JSON_TEXT, Records, json_strings
from pmpoolctl.output.tables import Cells, Column, Fast, Values, size_column

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


def memmaps_json(source: str, maps: list[MemoryMap]) -> dict[str, Any]:
    """`memmap --json` of a host capture: every map it holds, each as `memmap --json` shows one."""
    documents = []
    for memory_map in maps:  # a capture's maps are small: plain lists, not chunked Records
        document: dict[str, Any] = {"source": memory_map.source, "format": memory_map.format}
        if memory_map.note:
            document["note"] = memory_map.note
        document["entries"] = [
            {"start": e.start, "end": e.end, "type": e.type, "class": e.kind, "source": e.source}
            for e in memory_map.entries
        ]
        documents.append(document)
    return {"schema": MEMMAP_SCHEMA, "source": source, "format": "capture", "maps": documents}


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

    def values(field: str) -> Values:
        get = attrgetter(field)
        return lambda start, stop: map(get, entries[start:stop])

    def widest_hex(field: str) -> Callable[[], int]:  # the largest number's cell is the widest
        return lambda: len(f"{max(map(attrgetter(field), entries)):#x}") if entries else 0

    def longest(field: str) -> Callable[[], int]:
        return lambda: max(map(len, map(attrgetter(field), entries)), default=0)

    def text_column(title: str, field: str, wrap: bool = False) -> Column:
        return Column(title, cells(attrgetter(field)), wrap=wrap, fast=Fast(values(field), "s", longest(field)))

    sizes = list(map(sub, map(attrgetter("end"), entries), map(attrgetter("start"), entries)))
    columns = [
        Column("start", cells(lambda e: f"{e.start:#x}"), fast=Fast(values("start"), "#x", widest_hex("start"))),
        Column("end", cells(lambda e: f"{e.end:#x}"), fast=Fast(values("end"), "#x", widest_hex("end"))),
        size_column("size", sizes),
        text_column("class", "kind"),
        text_column("type", "type", wrap=True),
        text_column("source", "source", wrap=True),
    ]
    print_table(console, columns, len(entries))
