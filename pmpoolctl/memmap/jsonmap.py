"""JSON memory maps: a list of entries, or `memmap --json` output read back."""

from __future__ import annotations

from pmpoolctl.errors import InputError
from pmpoolctl.files.jsoninput import json_integer, json_text, load_json
from pmpoolctl.memmap.model import KINDS, MapEntry, MemoryMap, classify
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.text import printable


def parse_json_map(text: str, source: str) -> MemoryMap:
    """`[{"start", "end" or "size", "type", "class"?}]`, exclusive ends; also `memmap --json` output.

    Numbers are JSON integers or number strings ("0x1000", "4G"); `class` (one of KINDS)
    is taken as given, and without it the type decides (System RAM and usable are RAM).
    """
    document = load_json(text, source)
    if isinstance(document, dict) and isinstance(document.get("entries"), list):
        document = document["entries"]
    elif isinstance(document, dict) and isinstance(document.get("maps"), list):
        # Several maps, without what else the capture held (its width, what KHO preserves): read
        # back as one map, a check against it would pass what the capture itself refuses.
        raise InputError(
            f"{source}: `memmap --json` of a host capture holds {len(document['maps'])} maps, not one: "
            "give the capture itself (validate --memmap CAPTURE)"
        )
    if not isinstance(document, list):
        raise InputError(f'{source}: expected a JSON list of {{"start", "end", "type"}} objects')
    entries: list[MapEntry] = []
    # Items are taken off the end, so the parsed document shrinks as the entries grow
    # (a million JSON objects cost far more than their entries).
    document.reverse()
    for index in range(len(document)):
        item = document.pop()
        where = f"{source}: entry {index}"
        if not isinstance(item, dict) or "start" not in item or not isinstance(item.get("type"), str):
            raise InputError(f'{where}: expected an object with "start", "end" or "size", and a "type" string')
        start = json_integer(item["start"], f"{where} start", U64_LIMIT)
        if "end" in item:
            end = json_integer(item["end"], f"{where} end", U64_LIMIT)
            if "size" in item and json_integer(item["size"], f"{where} size", U64_LIMIT) != end - start:
                raise InputError(f'{where}: "size" is not "end" - "start"')
        elif "size" in item:
            end = start + json_integer(item["size"], f"{where} size", U64_LIMIT)
        else:
            raise InputError(f'{where}: needs "end" or "size"')
        if end <= start or end > U64_LIMIT:
            raise InputError(f"{where}: [{start:#x}, {end:#x}) is empty or past 2^64")
        json_text(item["type"], f"{where} type")
        kind = item.get("class", classify(item["type"]))
        if kind not in KINDS:
            raise InputError(f"{where}: unknown class {str(kind)[:40]!r} (one of {', '.join(KINDS)})")
        entries.append(MapEntry(start, end, printable(item["type"]), kind, f"{source}#{index}"))
    if not entries:
        raise InputError(f"{source}: no entries")
    entries.sort(key=lambda e: (e.start, e.end))
    return MemoryMap(source, "json", entries)
