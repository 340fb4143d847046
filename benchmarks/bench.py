#!/usr/bin/env python3
"""Benchmarks for pmpoolctl: whole processes, timed against C and Python references.

Run with the python of the venv that `make bench` makes (.venv-bench, where
`pip install .` installed pmpoolctl as users get it, without the import hook of an
editable install), so that the `fdt` reference row can import `fdt` and
`pmpoolctl` is that venv's console script. Standard library only.

For each pool size (1k, 10k, 100k, 1M ranges in one `page-ranges` property) the
script writes DTS text and compiles it with `dtc -I dts -O dtb`, so no pmpoolctl
code builds its own input; `fdtget -t x` then checks every word of the compiled
property against what was generated. The ranges are page aligned, 4 KiB..2 MiB,
with gaps, sorted and canonical, and lie inside the RAM of a real-shaped memory
map of a 1.5 TiB host (benchmarks/data/iomem-1.5TiB.txt), clear of its kernel
image, crash kernel and reserved holes, so `validate` passes.

Each command runs as a whole process (stdin and stdout /dev/null) once as a
warm-up and then --runs times; the commands of one size run round-robin (one of
each per round, the order rotated every round), so load that comes and goes hits
all of them alike and the ratios stay fair. The time is wall-clock from fork to
wait4 (time.perf_counter); the peak RSS is the child's ru_maxrss from os.wait4.
Edits run in place on a fresh copy of the blob each time (the copy is not timed).

Peak RSS caveat: Linux carries the RSS of the image a process exec()s from into
its ru_maxrss, so a child never reports less than the RSS of the process that
forked it. The children are therefore started by a bare interpreter (python -S -I,
builtin modules only), not by this script; the floor that remains is measured
(`true` started the same way) and values at it are shown as "<=floor". Blobs are
generated in a forked child, so this script stays small too.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
CACHE_DIR = BENCH_DIR / ".cache"
DEFAULT_MEMMAP = BENCH_DIR / "data" / "iomem-1.5TiB.txt"
README = BENCH_DIR / "README.md"
SMALL_BLOB = ROOT / "examples" / "pool.dtb"
RESULTS_BEGIN = "<!-- bench-results:begin -->"
RESULTS_END = "<!-- bench-results:end -->"

PAGE = 0x1000
SIZE_PAGES = (1, 512)  # a range is 4 KiB .. 2 MiB
GAP_PAGES = (3, 96)  # 12 KiB .. 384 KiB between ranges: a page added mid-gap touches neither side
# Past a million ranges (ten million span 1.2 TiB) the ranges are smaller and closer, or the
# 1.5 TiB of RAM would not hold them: 4 KiB .. 128 KiB with gaps of 12 KiB .. 96 KiB.
BIG_SIZE_PAGES = (1, 32)
BIG_GAP_PAGES = (3, 24)
GENERATOR_VERSION = 2  # bump when the generated blobs change, to invalidate the cache
SEED = 20251126
DEFAULT_SIZES = "1k,10k,100k,1M,10M"
# 100k only: the reader refuses trees past MAX_NODES (131,072) since 2026-12-03, so a tree of 1M
# siblings is an input error, not a benchmark (`--wide 1M` shows it).
DEFAULT_WIDE = "100k"
DEFAULT_BATCHES = "1k,100k"
DTC_MAX = 1_000_000  # pools above this are written by `fdt_blob` (dtc's DTS parser takes minutes and GBs)
WIDE_POOL = 1000  # ranges in the pool of a wide tree
BATCH_POOL = 1_000_000  # the pool the batches are added into
FDT_MAX = 1_000_000  # the fdt package's row stops here: it needs 650 MB at 1M ranges, 6.5 GB at 10M

# The product's commands and the references, per pool size.
POOL_COMMANDS = ("dump", "dump-json", "dump-dts", "validate", "add-range", "remove-range", "diff")
BATCH_COMMANDS = ("batch-1k", "batch-100k")  # add-range --from, into the 1M-range pool (its group)
REFERENCE_COMMANDS = ("fdtget", "dtc", "dtc-dts", "dtdiff", "fdt")
WIDE_COMMANDS = ("dump", "validate", "add-range", "fdtget", "fdtput", "walk")
STARTUP_COMMANDS = ("python", "import-fdt", "imports", "startup-dump")
# Which reference each product command's ratio row is drawn against (besides fdtget and dtc).
OWN_REFERENCE = {"dump-dts": "dtc-dts", "diff": "dtdiff"}
LABELS = {
    "dump": "pmpoolctl dump",
    "dump-json": "pmpoolctl dump --json",
    "dump-dts": "pmpoolctl dump --dts",
    "validate": "pmpoolctl validate --memmap IOMEM",
    "add-range": "pmpoolctl add-range (in place)",
    "remove-range": "pmpoolctl remove-range (in place)",
    "diff": "pmpoolctl diff A B (one range differs)",
    "batch-1k": "pmpoolctl add-range --from (1k-range batch)",
    "batch-100k": "pmpoolctl add-range --from (100k-range batch)",
    "fdtget": "fdtget -t x (page-ranges)",
    "dtc": "dtc -I dtb -O dtb",
    "dtc-dts": "dtc -I dtb -O dts",
    "dtdiff": "dtdiff A B",
    "fdtput": "fdtput -t x (page-ranges, in place)",
    "fdt": "fdt: parse_dtb + to_dtb",
    "walk": "python: the tokens walked, nothing checked or made",
    "python": "python -c pass",
    "import-fdt": 'python -c "import fdt"',
    "imports": 'python -c "import click, fdt, rich.console"',
    "startup-dump": "pmpoolctl dump examples/pool.dtb",
}
FDT_SCRIPT = "import sys, fdt; fdt.parse_dtb(open(sys.argv[1], 'rb').read()).to_dtb()"
# The least a Python reader of a wide tree does: step from token to token through the structure
# block (a property's length, a node name's NUL), checking nothing and making no object. What a
# process running it takes is the floor under every command that reads the whole tree in Python.
_WALK_SOURCE = """
import struct, sys
def walk(data):
    offset, size = struct.unpack_from(">I", data, 8)[0], struct.unpack_from(">I", data, 36)[0]
    limit, word, find, nodes = offset + size, struct.Struct(">II").unpack_from, data.find, 0
    while offset + 8 <= limit:
        tag, length = word(data, offset)
        if tag == 3:
            offset = (offset + 12 + length + 3) & ~3
        elif tag == 1:
            offset, nodes = (find(b"\\0", offset + 4, limit) + 4) & ~3, nodes + 1
        elif tag == 2 or tag == 4:
            offset += 4
        else:
            break
    return nodes, offset, limit
nodes, offset, limit = walk(open(sys.argv[1], "rb").read())
assert offset + 4 == limit, (offset, limit)  # stopped at FDT_END, the block's last word
print(nodes)
"""
WALK_SCRIPT = f"exec({_WALK_SOURCE!r})"  # one line: the runner takes no argument with a newline

# Targets of issues 5 and 19, as ratios measured in the same run on the same blobs.
BIG, MID, HUGE = 1_000_000, 100_000, 10_000_000
RSS_LIMIT = 6.0
DIFF_RSS_LIMIT = 4.0  # diff's peak RSS over the two blobs' sizes together
LINEAR_LIMIT = 12.0
HUGE_RUNS = 3  # timed runs at 10M ranges and 1M nodes at most: one dump of 10M takes seconds


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# sizes


def parse_size(text: str) -> int:
    """'1k' -> 1000, '1M' -> 1000000, '2500' -> 2500 (decimal multipliers: these are counts)."""
    text = text.strip()
    multiplier = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    digits = text[:-1] if multiplier > 1 else text
    if not digits.isdigit() or int(digits) * multiplier < 1:
        raise argparse.ArgumentTypeError(f"not a range count: {text!r} (e.g. 1k, 10k, 100k, 1M, 2500)")
    return int(digits) * multiplier


def parse_sizes_or_none(text: str) -> list[int]:
    return [] if text.strip().lower() == "none" else parse_sizes(text)


def size_label(count: int) -> str:
    for unit, value in (("M", 1_000_000), ("k", 1_000)):
        if count % value == 0:
            return f"{count // value}{unit}"
    return str(count)


def parse_sizes(text: str) -> list[int]:
    counts = sorted({parse_size(part) for part in text.split(",") if part.strip()})
    if not counts:
        raise argparse.ArgumentTypeError("no sizes given")
    return counts


# ---------------------------------------------------------------------------
# the memory map and the generated pools


def allowed_spans(iomem_text: str) -> list[tuple[int, int]]:
    """Half-open page-aligned spans of top-level System RAM minus everything nested in it.

    Conservative on purpose: kernel image, crash kernel and any nested reservation
    are all holes, so every generated range is clean by any reading of the map.
    The first MiB (real-mode and firmware memory) is left out too.
    """
    ram: list[tuple[int, int]] = []
    holes: list[tuple[int, int]] = []
    top = ""
    for line in iomem_text.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        span, _, name = line.strip().partition(" : ")
        first, _, last = span.partition("-")
        start, end = int(first, 16), int(last, 16) + 1
        if depth == 0:
            top = name.strip()
            if top == "System RAM":
                ram.append((start, end))
        elif top == "System RAM":
            holes.append((start, end))
    holes.append((0, 0x100000))
    spans: list[tuple[int, int]] = []
    for start, end in sorted(ram):
        pieces = [(start, end)]
        for hole_start, hole_end in holes:
            cut: list[tuple[int, int]] = []
            for s, e in pieces:
                if hole_end <= s or hole_start >= e:
                    cut.append((s, e))
                    continue
                if s < hole_start:
                    cut.append((s, hole_start))
                if hole_end < e:
                    cut.append((hole_end, e))
            pieces = cut
        for s, e in pieces:
            low, high = -(-s // PAGE) * PAGE, e // PAGE * PAGE
            if high > low:
                spans.append((low, high))
    return sorted(spans)


def generate_ranges(count: int, spans: Sequence[tuple[int, int]], seed: int) -> list[tuple[int, int]]:
    """`count` sorted, canonical (base, size) ranges laid out through `spans` with random gaps."""
    rng = random.Random(seed)
    draw = rng.randint
    size_pages, gap_pages = (SIZE_PAGES, GAP_PAGES) if count <= DTC_MAX else (BIG_SIZE_PAGES, BIG_GAP_PAGES)
    ranges: list[tuple[int, int]] = []
    append = ranges.append
    index = 0
    cursor, end = spans[0]
    while len(ranges) < count:
        base = cursor + draw(*gap_pages) * PAGE
        size = draw(*size_pages) * PAGE
        if base + size > end:
            index += 1
            if index == len(spans):
                raise SystemExit(f"error: the memory map's RAM holds only {len(ranges)} of {count} ranges")
            cursor, end = spans[index]
            continue
        append((base, size))
        cursor = base + size
    return ranges


def pool_dts(ranges: Sequence[tuple[int, int]], ram: Sequence[tuple[int, int]], source: str) -> str:
    cells = ",\n\t\t      ".join(
        f"<0x{s >> 32:x} 0x{s & 0xFFFFFFFF:x} 0x{(e - s) >> 32:x} 0x{(e - s) & 0xFFFFFFFF:x}>" for s, e in ram
    )
    body = "\n".join([f"\t\t\t0x{base:x} 0x{size:x}" for base, size in ranges])
    return (
        "/dts-v1/;\n\n"
        f"/* Generated by benchmarks/bench.py: {len(ranges)} ranges inside the RAM of {source}. */\n\n"
        "/ {\n"
        "\t#address-cells = <2>;\n"
        "\t#size-cells = <2>;\n"
        f'\tmodel = "pmpoolctl benchmark, {len(ranges)} ranges";\n\n'
        f"\tmemory@{ram[0][0]:x} {{\n"
        '\t\tdevice_type = "memory";\n'
        f"\t\treg = {cells};\n"
        "\t};\n\n"
        "\tdefault_pmpool {\n"
        '\t\tcompatible = "pmpool-v1";\n'
        "\t\tpage-size = <0x1000>;\n"
        "\t\tpage-ranges = /bits/ 64 <\n"
        f"{body}\n"
        "\t\t>;\n"
        "\t};\n"
        "};\n"
    )


def ram_spans(iomem_text: str) -> list[tuple[int, int]]:
    spans = []
    for line in iomem_text.splitlines():
        if line[:1] not in ("", " ") and line.partition(" : ")[2].strip() == "System RAM":
            first, _, last = line.partition(" : ")[0].partition("-")
            spans.append((int(first, 16), int(last, 16) + 1))
    return spans


def fdtget_words(ranges: Iterable[tuple[int, int]]) -> str:
    """What `fdtget -t x` prints for the property: 32-bit hex words, space separated."""
    mask = 0xFFFFFFFF
    return " ".join(f"{b >> 32:x} {b & mask:x} {s >> 32:x} {s & mask:x}" for b, s in ranges)


def pick_edits(ranges: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """(a page to add, a range to remove): the page sits mid-gap in the middle of the pool, in RAM
    (both neighbours in one allowed span) and touching neither neighbour; the range is a whole
    existing one a third of the way in."""
    count = len(ranges)
    for i in range(count // 2, count - 1):
        gap_start = ranges[i][0] + ranges[i][1]
        gap_end = ranges[i + 1][0]
        if any(s <= gap_start and gap_end <= e for s, e in spans) and gap_end - gap_start >= 3 * PAGE:
            return (gap_start + (gap_end - gap_start) // PAGE // 2 * PAGE, PAGE), ranges[count // 3]
    last_end = ranges[-1][0] + ranges[-1][1]
    return (last_end + PAGE, PAGE), ranges[count // 3]


@dataclass(frozen=True)
class Pool:
    count: int
    dtb: Path
    size: int  # bytes
    add: tuple[int, int]  # a page in the middle of a gap: touches no range
    remove: tuple[int, int]  # one whole existing range
    other: Path  # the same pool with `add` added: what `diff` compares it with
    ranges: int = 0  # ranges in the pool (a wide tree's pool is small)
    nodes: int = 0  # a wide tree's sibling nodes
    words: str = ""  # a wide tree: `fdtget -t x` words of the pool with `add` added (what fdtput writes)


Tree = tuple[str, list[tuple[str, bytes]], list[Any]]  # (name, properties, children) for `fdt_blob`


def fdt_blob(root: Tree) -> bytes:
    """A version 17 FDT blob of the tree (name, [(property, value)], [children]), written as dtc
    writes one (the reservation block empty, strings in order of first use), without dtc: its
    DTS parser takes minutes for ten million ranges and refuses 100,000 sibling nodes (its
    parser stack runs out). Every blob made here is read back by fdtget before it is used."""
    strings: dict[str, int] = {}
    table = bytearray()
    out: list[bytes] = []
    begin, end_node, end = (struct.pack(">I", tag) for tag in (1, 2, 9))

    def name_offset(name: str) -> int:
        if name not in strings:
            strings[name] = len(table)
            table.extend(name.encode() + b"\0")
        return strings[name]

    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            out.append(end_node)
            continue
        name, properties, children = node
        raw = name.encode() + b"\0"
        out.append(begin + raw + bytes(-len(raw) % 4))
        for prop, value in properties:
            out.append(struct.pack(">III", 3, len(value), name_offset(prop)) + value + bytes(-len(value) % 4))
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(children))
    out.append(end)
    structure = b"".join(out)
    off_rsvmap = 40
    off_struct = off_rsvmap + 16
    off_strings = off_struct + len(structure)
    total = off_strings + len(table)
    header = struct.pack(
        ">10I", 0xD00DFEED, total, off_struct, off_strings, off_rsvmap, 17, 16, 0, len(table), len(structure)
    )
    return header + bytes(16) + structure + bytes(table)


def cells(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def pool_tree(ranges: Sequence[tuple[int, int]], ram: Sequence[tuple[int, int]], extra: list[Tree]) -> Tree:
    """The tree `pool_dts` describes, for `fdt_blob`; `extra` nodes go between /memory and the pool."""
    words = array("Q", [value for pair in ranges for value in pair])
    if sys.byteorder == "little":
        words.byteswap()
    reg = b"".join(cells(s >> 32, s & 0xFFFFFFFF, (e - s) >> 32, (e - s) & 0xFFFFFFFF) for s, e in ram)
    model = f"pmpoolctl benchmark, {len(ranges)} ranges".encode() + b"\0"
    memory: Tree = (f"memory@{ram[0][0]:x}", [("device_type", b"memory\0"), ("reg", reg)], [])
    pool: Tree = (
        "default_pmpool",
        [("compatible", b"pmpool-v1\0"), ("page-size", cells(PAGE)), ("page-ranges", words.tobytes())],
        [],
    )
    props = [("#address-cells", cells(2)), ("#size-cells", cells(2)), ("model", model)]
    return ("", props, [memory, *extra, pool])


def fdtget_text(tools: Tools, blob: Path, *args: str) -> str:
    """What `fdtget -t x BLOB ARGS` prints (`fdtget -l BLOB PATH` for args ("-l", PATH))."""
    argv = (
        [tools.fdtget, "-l", str(blob), *args[1:]]
        if args[:1] == ("-l",)
        else [tools.fdtget, "-t", "x", str(blob), *args]
    )
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def write_checked(
    path: Path,
    ranges: Sequence[tuple[int, int]],
    text: str,
    memmap_name: str,
    tools: Tools,
    extra: list[Tree] | None = None,
) -> None:
    """Write the pool blob `path` (dtc from DTS up to DTC_MAX ranges and no extra nodes, else
    `fdt_blob`), then check with fdtget that it holds exactly `ranges`."""
    partial = path.with_suffix(".dtb.partial")
    if len(ranges) <= DTC_MAX and not extra:
        dts = path.with_suffix(".dts")
        dts.write_text(pool_dts(ranges, ram_spans(text), memmap_name))
        subprocess.run([tools.dtc, "-q", "-I", "dts", "-O", "dtb", "-o", str(partial), str(dts)], check=True)
    else:
        partial.write_bytes(fdt_blob(pool_tree(ranges, ram_spans(text), extra or [])))
    if fdtget_text(tools, partial, "/default_pmpool", "page-ranges") != fdtget_words(ranges):
        raise SystemExit(f"error: {partial}: fdtget does not read back the {len(ranges)} generated ranges")
    if extra and len(fdtget_text(tools, partial, "-l", "/").split()) != len(extra) + 2:
        raise SystemExit(f"error: {partial}: fdtget does not list the {len(extra)} generated nodes")
    os.replace(partial, path)


def with_range(ranges: Sequence[tuple[int, int]], added: tuple[int, int]) -> list[tuple[int, int]]:
    at = bisect.bisect_left(ranges, added)
    return [*ranges[:at], added, *ranges[at:]]


def pool_paths(label: str) -> tuple[Path, Path, Path]:
    stem = CACHE_DIR / label
    return stem.with_suffix(".dtb"), stem.with_name(stem.name + "-b.dtb"), stem.with_suffix(".json")


def cache_key(label: str, memmap_text: str, dtc_version: str) -> str:
    material = json.dumps(
        [
            GENERATOR_VERSION,
            label,
            SEED,
            SIZE_PAGES,
            GAP_PAGES,
            BIG_SIZE_PAGES,
            BIG_GAP_PAGES,
            WIDE_POOL,
            memmap_text,
            dtc_version,
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def build_pool(label: str, count: int, nodes: int, memmap: Path, tools: Tools) -> None:
    """Generate, write and check one pool (and its diff partner) in a forked child: its memory dies with it.

    `nodes` > 0 makes a wide tree: that many sibling nodes `dev@N` (compatible, reg) beside a
    pool of `count` ranges."""
    text = memmap.read_text()
    spans = allowed_spans(text)
    ranges = generate_ranges(count, spans, SEED + count + nodes)
    dtb, other, meta = pool_paths(label)
    add, remove = pick_edits(ranges, spans)
    extra: list[Tree] = [
        (f"dev@{i:x}", [("compatible", b"pmpoolctl,bench-device\0"), ("reg", cells(0, i * PAGE, 0, PAGE))], [])
        for i in range(nodes)
    ]
    write_checked(dtb, ranges, text, memmap.name, tools, extra)
    both = with_range(ranges, add)
    write_checked(other, both, text, memmap.name, tools, extra)
    info = {"key": cache_key(label, text, tools.dtc_version), "count": count, "add": add, "remove": remove}
    if nodes:
        info["words"] = fdtget_words(both)
    meta.write_text(json.dumps(info) + "\n")


def ensure_pool(label: str, count: int, memmap: Path, tools: Tools, nodes: int = 0) -> Pool:
    dtb, other, meta = pool_paths(label)
    key = cache_key(label, memmap.read_text(), tools.dtc_version)
    try:
        info = json.loads(meta.read_text())
        fresh = info.get("key") == key and dtb.is_file() and other.is_file()
    except (OSError, ValueError):
        fresh = False
    if not fresh:
        what = f"{size_label(nodes)} sibling nodes and {count} ranges" if nodes else f"{size_label(count)} ranges"
        how = "dtc from DTS" if count <= DTC_MAX and not nodes else "written by bench.py"
        log(f"generating {what}: {how}, checked with fdtget ({dtb.relative_to(ROOT)})")
        started = time.perf_counter()
        in_child(lambda: build_pool(label, count, nodes, memmap, tools))
        log(f"  done in {time.perf_counter() - started:.1f} s")
        info = json.loads(meta.read_text())
    add, remove = info["add"], info["remove"]
    return Pool(
        count,
        dtb,
        dtb.stat().st_size,
        (int(add[0]), int(add[1])),
        (int(remove[0]), int(remove[1])),
        other,
        count,
        nodes,
        info.get("words", ""),
    )


def ensure_batch(pool: Pool, count: int, tools: Tools) -> Path:
    """A text batch of `count` pages, one in the middle of each of `count` gaps spread through the
    pool (touching nothing), read from the pool's blob with fdtget; cached beside it."""
    path = CACHE_DIR / f"batch-{size_label(count)}-into-{size_label(pool.count)}.txt"
    stamp = path.with_suffix(".key")
    key = f"{pool.dtb.stat().st_mtime_ns} {count}"
    if path.is_file() and stamp.is_file() and stamp.read_text() == key:
        return path

    def build() -> None:
        words = [int(w, 16) for w in fdtget_text(tools, pool.dtb, "/default_pmpool", "page-ranges").split()]
        pairs = [
            ((words[i] << 32) | words[i + 1], (words[i + 2] << 32) | words[i + 3]) for i in range(0, len(words), 4)
        ]
        step = (len(pairs) - 1) / count
        lines = []
        for k in range(count):
            i = int(k * step)
            gap_start, gap_end = pairs[i][0] + pairs[i][1], pairs[i + 1][0]
            lines.append(f"{gap_start + (gap_end - gap_start) // PAGE // 2 * PAGE:#x} {PAGE:#x}\n")
        path.write_text("".join(lines))
        stamp.write_text(key)

    log(f"generating a batch of {size_label(count)} ranges into the {size_label(pool.count)}-range pool")
    in_child(build)
    return path


def in_child(work: Callable[[], None]) -> None:
    """Run `work` in a forked child, so that its memory never counts in this process's RSS."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except SystemExit as exc:
            print(exc, file=sys.stderr)
        except BaseException as exc:  # noqa: BLE001 - report anything, then leave the child
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("error: generating a benchmark blob failed (see above)")


# ---------------------------------------------------------------------------
# running and measuring


@dataclass(frozen=True)
class Tools:
    python: str
    pmpoolctl: str
    fdtget: str
    dtc: str
    fdtput: str
    dtdiff: str
    true: str
    dtc_version: str


@dataclass
class Command:
    group: str  # a size label, or "startup"
    key: str
    argv: list[str]
    copy_from: Path | None = None  # an edit: copy this over argv's blob before each run
    copy_to: Path | None = None
    expect_ranges: int | None = None  # an edit: ranges in the pool after it (checked after the warm-up)
    expect_code: int = 0  # diff and dtdiff exit 1: the blobs differ
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        return LABELS[self.key]

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and self.error is None else None

    @property
    def peak_rss(self) -> int | None:
        return max(self.rss_kib) if self.rss_kib and self.error is None else None


# The process that starts the measured ones: a bare interpreter (-S -I, only builtin
# modules), so that the RSS it hands on to its children at exec (see the module
# docstring) is as small as Python allows. One request per line: the stderr path and
# the argv, NUL separated; one reply per line: seconds, ru_maxrss (KiB), exit code.
RUNNER = r"""
import os, sys, time
requests, replies = sys.stdin.buffer, sys.stdout.buffer
for line in requests:
    err, *argv = line.rstrip(b"\n").split(b"\0")
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    replies.write(b"%.9f %d %d\n" % (elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
    replies.flush()
"""


class Runner:
    """Times whole processes: wall clock from fork to wait4, peak RSS from wait4's rusage."""

    def __init__(self, python: str, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self.process = subprocess.Popen(
            [python, "-S", "-I", "-c", RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def run(self, argv: Sequence[str]) -> tuple[float, int, int]:
        """(seconds, peak RSS in KiB, exit code) of one process with stdin and stdout on /dev/null."""
        fields = [os.fsencode(self.stderr_path), *(os.fsencode(arg) for arg in argv)]
        if any(b"\n" in f or b"\0" in f for f in fields):
            raise ValueError(f"an argument holds a newline or NUL: {argv!r}")
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"\0".join(fields) + b"\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline().split()
        if len(reply) != 3:
            raise SystemExit("error: the benchmark's runner process died")
        return float(reply[0]), int(reply[1]), int(reply[2])

    def stderr_tail(self) -> str:
        lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else "(nothing on stderr)"

    def rss_floor(self, true: str) -> int:
        """The least ru_maxrss any child can report: `true` started the same way."""
        return max(self.run([true])[1] for _ in range(3))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def count_ranges(fdtget: str, blob: Path) -> int:
    """Ranges in the blob's pool as fdtget reads them (4 words of 32 bits per range)."""
    printed = subprocess.run(
        [fdtget, "-t", "x", str(blob), "/default_pmpool", "page-ranges"], capture_output=True, check=False
    ).stdout
    return len(printed.split()) // 4


def run_round(commands: Sequence[Command], rotate: int, record: bool, runner: Runner, tools: Tools) -> None:
    order = list(commands[rotate % len(commands) :]) + list(commands[: rotate % len(commands)])
    for command in order:
        if command.error is not None:
            continue
        if command.copy_from is not None and command.copy_to is not None:
            shutil.copyfile(command.copy_from, command.copy_to)
        seconds, rss, code = runner.run(command.argv)
        if code != command.expect_code:
            command.error = f"exit {code}: {runner.stderr_tail()}"
            log(f"  {command.group} {command.label}: FAILED, {command.error}")
            continue
        if not record and command.expect_ranges is not None and command.copy_to is not None:
            found = count_ranges(tools.fdtget, command.copy_to)
            if found != command.expect_ranges:
                command.error = f"fdtget reads {found} ranges after the edit, expected {command.expect_ranges}"
                log(f"  {command.group} {command.label}: FAILED, {command.error}")
        if record:
            command.seconds.append(seconds)
            command.rss_kib.append(rss)


def measure(commands: Sequence[Command], runs: int, warmups: int, runner: Runner, tools: Tools) -> None:
    """Round-robin: each round runs every command once, starting one further along each time."""
    for index in range(warmups + runs):
        run_round(commands, index, record=index >= warmups, runner=runner, tools=tools)


def pool_commands(pool: Pool, tools: Tools, memmap: Path, workdir: Path, batches: dict[str, Path]) -> list[Command]:
    label = size_label(pool.count)
    blob = str(pool.dtb)
    copy = workdir / f"edit-{label}.dtb"
    dtc_out = workdir / f"dtc-{label}.dtb"
    add_base, add_size = pool.add
    remove_base, remove_size = pool.remove
    pmpoolctl = tools.pmpoolctl
    commands = [
        Command(label, "dump", [pmpoolctl, "dump", blob]),
        Command(label, "dump-json", [pmpoolctl, "dump", "--json", blob]),
        Command(label, "dump-dts", [pmpoolctl, "dump", "--dts", blob]),
        Command(label, "validate", [pmpoolctl, "validate", blob, "--memmap", str(memmap)]),
        Command(
            label,
            "add-range",
            [pmpoolctl, "add-range", str(copy), f"{add_base:#x}", f"{add_size:#x}"],
            copy_from=pool.dtb,
            copy_to=copy,
            expect_ranges=pool.count + 1,
        ),
        Command(
            label,
            "remove-range",
            [pmpoolctl, "remove-range", str(copy), f"{remove_base:#x}", f"{remove_size:#x}"],
            copy_from=pool.dtb,
            copy_to=copy,
            expect_ranges=pool.count - 1,
        ),
        Command(label, "diff", [pmpoolctl, "diff", blob, str(pool.other)], expect_code=1),
    ]
    for key, batch in batches.items():
        count = parse_size(key.removeprefix("batch-"))
        commands.append(
            Command(
                label,
                key,
                [pmpoolctl, "add-range", str(copy), "--from", str(batch)],
                copy_from=pool.dtb,
                copy_to=copy,
                expect_ranges=pool.count + count,
            )
        )
    commands += [
        Command(label, "fdtget", [tools.fdtget, "-t", "x", blob, "/default_pmpool", "page-ranges"]),
        Command(label, "dtc", [tools.dtc, "-I", "dtb", "-O", "dtb", "-o", str(dtc_out), blob]),
        Command(label, "dtc-dts", [tools.dtc, "-I", "dtb", "-O", "dts", "-o", os.devnull, blob]),
        Command(label, "dtdiff", [tools.dtdiff, blob, str(pool.other)], expect_code=1),
    ]
    if pool.count <= FDT_MAX:
        commands.append(Command(label, "fdt", [tools.python, "-c", FDT_SCRIPT, blob]))
    return commands


def wide_commands(pool: Pool, tools: Tools, memmap: Path, workdir: Path) -> list[Command]:
    """A tree of `pool.nodes` sibling nodes beside a small pool: the walk over the tree is the work."""
    group = wide_label(pool.nodes)
    blob = str(pool.dtb)
    copy = workdir / f"edit-{group}.dtb"
    add_base, add_size = pool.add
    pmpoolctl = tools.pmpoolctl
    return [
        Command(group, "dump", [pmpoolctl, "dump", blob]),
        Command(group, "validate", [pmpoolctl, "validate", blob, "--memmap", str(memmap)]),
        Command(
            group,
            "add-range",
            [pmpoolctl, "add-range", str(copy), f"{add_base:#x}", f"{add_size:#x}"],
            copy_from=pool.dtb,
            copy_to=copy,
            expect_ranges=pool.count + 1,
        ),
        Command(group, "fdtget", [tools.fdtget, "-t", "x", blob, "/default_pmpool", "page-ranges"]),
        Command(
            group,
            "fdtput",
            [tools.fdtput, "-t", "x", str(copy), "/default_pmpool", "page-ranges", *pool.words.split()],
            copy_from=pool.dtb,
            copy_to=copy,
            expect_ranges=pool.count + 1,
        ),
        Command(group, "walk", [tools.python, "-c", WALK_SCRIPT, blob]),
    ]


def wide_label(nodes: int) -> str:
    return f"wide-{size_label(nodes)}"


def startup_commands(tools: Tools) -> list[Command]:
    return [
        Command("startup", "python", [tools.python, "-c", "pass"]),
        Command("startup", "import-fdt", [tools.python, "-c", "import fdt"]),
        Command("startup", "imports", [tools.python, "-c", "import click, fdt, rich.console"]),
        Command("startup", "startup-dump", [tools.pmpoolctl, "dump", str(SMALL_BLOB)]),
    ]


# ---------------------------------------------------------------------------
# targets


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None  # the measured ratio; None when not measured (size not run, or a command failed)
    limit: float
    note: str = ""

    @property
    def status(self) -> str:
        if self.value is None:
            return "n/a"
        return "PASS" if self.value <= self.limit else "FAIL"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def evaluate_targets(results: dict[str, dict[str, Command]], pools: dict[str, Pool]) -> list[Target]:
    """Every target of issues 5 and 19 as (measured ratio, limit); "n/a" with the reason when not measured."""
    big, mid, huge = size_label(BIG), size_label(MID), size_label(HUGE)
    wide = wide_label(MID)

    def median(group: str, key: str) -> float | None:
        command = results.get(group, {}).get(key)
        return command.median if command is not None else None

    def rss_bytes(group: str, key: str) -> float | None:
        command = results.get(group, {}).get(key)
        rss = command.peak_rss if command is not None else None
        return None if rss is None else rss * 1024.0

    def target(name: str, numerator: float | None, denominator: float | None, limit: float, *groups: str) -> Target:
        value = ratio(numerator, denominator)
        missing = [g for g in groups if g not in results]
        note = ""
        if value is None:
            note = f"needs {', '.join(missing)}" if missing else "a command failed or was not run"
        return Target(name, value, limit, note)

    def blob_size(group: str, both: bool = False) -> float | None:
        pool = pools.get(group)
        if pool is None:
            return None
        return float(pool.size + (pool.other.stat().st_size if both else 0))

    short = {key: LABELS[key].removeprefix("pmpoolctl ") for key in LABELS}
    targets = [
        target(f"validate of {big} <= 1.0x fdtget -t x", median(big, "validate"), median(big, "fdtget"), 1.0, big),
        target(f"dump --json of {big} <= 2.0x fdtget -t x", median(big, "dump-json"), median(big, "fdtget"), 2.0, big),
        target(f"add-range into {big} <= 5x dtc -I dtb -O dtb", median(big, "add-range"), median(big, "dtc"), 5.0, big),
    ]
    for key in ("add-range", "dump", "dump-json", "validate", "remove-range"):
        targets.append(
            target(
                f"peak RSS of {short[key]} at {big} <= 6x blob size",
                rss_bytes(big, key),
                blob_size(big),
                RSS_LIMIT,
                big,
            )
        )
    targets.append(
        target(
            "start-up: dump of a small blob <= 1.5x python -c 'import click, fdt, rich.console'",
            median("startup", "startup-dump"),
            median("startup", "imports"),
            1.5,
            "startup",
        )
    )
    for key in ("dump", "dump-json", "validate", "add-range", "remove-range"):
        targets.append(
            target(
                f"linear: {short[key]} of {big} <= 12x {mid}",
                median(big, key),
                median(mid, key),
                LINEAR_LIMIT,
                mid,
                big,
            )
        )
    # issue 19
    for key in ("add-range", "remove-range"):
        targets.append(
            target(f"19: {short[key]} of {big} <= 3x dtc -I dtb -O dtb", median(big, key), median(big, "dtc"), 3.0, big)
        )
    targets.append(
        target(
            f"19: add-range --from a 100k batch into {big} <= 5x dtc -I dtb -O dtb",
            median(big, "batch-100k"),
            median(big, "dtc"),
            5.0,
            big,
        )
    )
    targets.append(
        target(
            f"19: peak RSS of add-range --from a 100k batch into {big} <= 6x blob size",
            rss_bytes(big, "batch-100k"),
            blob_size(big),
            RSS_LIMIT,
            big,
        )
    )
    targets.append(target(f"19: dump of {big} <= 3x fdtget -t x", median(big, "dump"), median(big, "fdtget"), 3.0, big))
    targets.append(
        target(f"19: dump --dts of {big} <= 1.5x dtc -O dts", median(big, "dump-dts"), median(big, "dtc-dts"), 1.5, big)
    )
    for group in [label for label in results if label in pools and not label.startswith("wide-")]:
        targets.append(
            target(f"19: diff of {group} <= 0.5x dtdiff", median(group, "diff"), median(group, "dtdiff"), 0.5, group)
        )
    for group in (big, huge):
        targets.append(
            target(
                f"19: peak RSS of diff at {group} <= 4x both blobs",
                rss_bytes(group, "diff"),
                blob_size(group, both=True),
                DIFF_RSS_LIMIT,
                group,
            )
        )
    for key in ("dump", "validate"):
        targets.append(
            target(f"19: {key} of {wide} <= 10x fdtget -t x", median(wide, key), median(wide, "fdtget"), 10.0, wide)
        )
    targets.append(
        target(
            f"19: add-range into {wide} <= 10x fdtput", median(wide, "add-range"), median(wide, "fdtput"), 10.0, wide
        )
    )
    for key in POOL_COMMANDS:
        targets.append(
            target(
                f"19: linear: {short[key]} of {huge} <= 12x {big}",
                median(huge, key),
                median(big, key),
                LINEAR_LIMIT,
                big,
                huge,
            )
        )
    return targets


# ---------------------------------------------------------------------------
# the machine


def machine_info(tools: Tools) -> dict[str, Any]:
    cpu = "unknown"
    mem_kib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "dtc": tools.dtc_version,
        "fdt": version("fdt"),
        "click": version("click"),
        "rich": version("rich"),
        "pmpoolctl": version("pmpoolctl"),
        "commit": git.stdout.strip() or "unknown",
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------
# output


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def fmt_rss(kib: int | None, floor: int) -> str:
    if kib is None:
        return "-"
    if kib <= floor + 512:
        return f"<={floor / 1024:.1f} MiB"
    return f"{kib / 1024:.1f} MiB"


def fmt_bytes(size: int) -> str:
    for unit, value in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= value:
            return f"{size / value:.1f} {unit}"
    return f"{size} B"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def cell(command: Command | None, floor: int) -> tuple[str, str]:
    if command is None:
        return ("", "")
    if command.error is not None:
        return ("error", "")
    return (fmt_seconds(command.median), fmt_rss(command.peak_rss, floor))


@dataclass
class Report:
    machine: dict[str, Any]
    runs: int
    warmups: int
    floor_kib: int
    pools: dict[str, Pool]
    results: dict[str, dict[str, Command]]
    targets: list[Target]
    seconds_total: float

    @staticmethod
    def rss_ratio(command: Command, pool: Pool) -> float | None:
        rss = command.peak_rss
        return None if rss is None else rss * 1024.0 / pool.size

    def tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, header, rows) of every table: the text and markdown outputs draw the same ones."""
        sizes = [label for label in self.results if label != "startup" and not label.startswith("wide-")]
        wides = [label for label in self.results if label.startswith("wide-")]

        def per_group(groups: list[str], keys: Sequence[str]) -> tuple[list[str], list[list[str]]]:
            header = ["command"] + [f"{g} {what}" for g in groups for what in ("time", "RSS")]
            rows = [["blob size"] + [x for g in groups for x in (fmt_bytes(self.pools[g].size), "")]]
            for key in keys:
                if any(key in self.results[g] for g in groups):
                    rows.append(
                        [LABELS[key]] + [x for g in groups for x in cell(self.results[g].get(key), self.floor_kib)]
                    )
            return header, rows

        def median(group: str, key: str) -> float | None:
            command = self.results[group].get(key)
            return None if command is None else command.median

        short = {key: LABELS[key].removeprefix("pmpoolctl ") for key in LABELS}
        out = []
        if sizes:
            header, per_size = per_group(sizes, POOL_COMMANDS + BATCH_COMMANDS + REFERENCE_COMMANDS)
            out.append(
                (
                    f"median time and peak RSS per pool size ({self.runs} runs after {self.warmups} warm-up)",
                    header,
                    per_size,
                )
            )
            ratios: list[list[str]] = []
            for reference in ("fdtget", "dtc"):
                for key in POOL_COMMANDS + BATCH_COMMANDS:
                    if any(key in self.results[s] for s in sizes):
                        ratios.append(
                            [f"{short[key]} / {reference}"]
                            + [fmt_ratio(ratio(median(s, key), median(s, reference))) for s in sizes]
                        )
            for key, reference in OWN_REFERENCE.items():
                ratios.append(
                    [f"{short[key]} / {short[reference]}"]
                    + [fmt_ratio(ratio(median(s, key), median(s, reference))) for s in sizes]
                )
            for key in POOL_COMMANDS + BATCH_COMMANDS:
                if any(key in self.results[s] for s in sizes):
                    ratios.append(
                        [f"{short[key]} peak RSS / blob size"]
                        + [
                            fmt_ratio(self.rss_ratio(self.results[s][key], self.pools[s]))
                            if key in self.results[s]
                            else "-"
                            for s in sizes
                        ]
                    )
            out.append(("ratios (same run, same blobs)", ["ratio", *sizes], ratios))
        if wides:
            header, rows = per_group(wides, WIDE_COMMANDS)
            out.append((f"wide trees: sibling nodes beside a pool of {WIDE_POOL} ranges", header, rows))
            wide_ratios = [
                [f"{short[key]} / {short[reference]}"]
                + [fmt_ratio(ratio(median(w, key), median(w, reference))) for w in wides]
                for key, reference in (
                    ("dump", "fdtget"),
                    ("validate", "fdtget"),
                    ("add-range", "fdtput"),
                    ("walk", "fdtget"),
                )
            ]
            out.append(("wide-tree ratios", ["ratio", *wides], wide_ratios))
        startup = self.results.get("startup", {})
        startup_rows = [[LABELS[key], *cell(startup.get(key), self.floor_kib)] for key in STARTUP_COMMANDS]
        target_rows = [
            [t.name, fmt_ratio(t.value), f"{t.limit:.1f}x", t.status + (f" ({t.note})" if t.note else "")]
            for t in self.targets
        ]
        out.append(("start-up (examples/pool.dtb)", ["command", "time", "RSS"], startup_rows))
        out.append(("targets (issues 5 and 19)", ["target", "measured", "limit", "result"], target_rows))
        return out

    def summary(self) -> str:
        measured = [t for t in self.targets if t.value is not None]
        met = sum(t.status == "PASS" for t in measured)
        skipped = len(self.targets) - len(measured)
        extra = f" ({skipped} not measured)" if skipped else ""
        return f"targets: {met}/{len(self.targets)} met{extra}"

    def machine_line(self) -> str:
        m = self.machine
        load = f"load average {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end"
        return (
            f"{m['cpu']}, {m['cpus']} CPUs ({m['cpus_usable']} usable), {m['memory_gib']} GiB; {m['kernel']}; "
            f"Python {m['python']}; {m['dtc']}; fdt {m['fdt']}; pmpoolctl {m['pmpoolctl']} ({m['commit']}); {load}"
        )

    def load_note(self) -> str:
        """A warning when other work shared the CPUs: the targets assume a quiet machine."""
        m = self.machine
        load = max(m["loadavg_start"][0], m["loadavg_end"][0])
        if load < 0.5 * (m["cpus_usable"] or 1):
            return ""
        return (
            f"note: load average up to {load:.2f} on {m['cpus_usable']} CPUs: the machine was busy and these "
            "figures are noisy; the targets are meant for a quiet machine"
        )

    def text(self) -> str:
        lines = [
            f"machine: {self.machine_line()}",
            f"RSS floor (the runner's own image, see --help): {self.floor_kib / 1024:.1f} MiB",
            "",
        ]
        for title, header, rows in self.tables():
            widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
            lines.append(title)
            lines.append(
                "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
            )
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
            for row in rows:
                lines.append(
                    "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                )
            lines.append("")
        for group in self.results.values():
            for command in group.values():
                if command.error:
                    lines.append(f"{command.group} {command.label}: {command.error}")
        if self.load_note():
            lines.append(self.load_note())
        lines.append(f"full run: {self.seconds_total:.0f} s")
        lines.append(self.summary())
        return "\n".join(lines)

    def markdown(self) -> str:
        m = self.machine
        lines = [
            f"Measured {time.strftime('%Y-%m-%d')} at commit `{m['commit']}` with "
            f"`{' '.join(self.machine['argv'])}`: median of {self.runs} runs after {self.warmups} warm-up.",
            "",
            f"Machine: {self.machine_line()}.",
            "",
        ]
        if self.load_note():
            lines += [f"**{self.load_note().replace('note: ', 'Note: ', 1)}.**", ""]
        for title, header, rows in self.tables():
            lines.append(f"**{title}**")
            lines.append("")
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
            for row in rows:
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
            lines.append("")
        lines.append(
            f"RSS floor (the runner's own image, see above): {self.floor_kib / 1024:.1f} MiB. "
            f"Full run: {self.seconds_total:.0f} s."
        )
        lines.append("")
        lines.append(f"**{self.summary()}**")
        return "\n".join(lines)

    def json(self) -> dict[str, Any]:
        return {
            "schema": "pmpoolctl.bench/v1",
            "machine": self.machine,
            "runs": self.runs,
            "warmups": self.warmups,
            "rss_floor_kib": self.floor_kib,
            "blobs": {
                label: {"ranges": p.count, "bytes": p.size, "path": str(p.dtb), "add": p.add, "remove": p.remove}
                for label, p in self.pools.items()
            },
            "results": [
                {
                    "group": c.group,
                    "command": c.key,
                    "label": c.label,
                    "argv": c.argv,
                    "seconds": c.seconds,
                    "median_seconds": c.median,
                    "min_seconds": min(c.seconds) if c.seconds else None,
                    "rss_kib": c.rss_kib,
                    "peak_rss_kib": c.peak_rss,
                    "error": c.error,
                }
                for group in self.results.values()
                for c in group.values()
            ],
            "targets": [{"name": t.name, "ratio": t.value, "limit": t.limit, "result": t.status} for t in self.targets],
            "summary": self.summary(),
            "seconds_total": self.seconds_total,
        }


def update_readme(markdown: str) -> None:
    text = README.read_text()
    begin, end = text.find(RESULTS_BEGIN), text.find(RESULTS_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"error: {README}: no {RESULTS_BEGIN} ... {RESULTS_END} section to update")
    README.write_text(text[: begin + len(RESULTS_BEGIN)] + "\n" + markdown + "\n" + text[end:])
    log(f"updated {README.relative_to(ROOT)}")


# ---------------------------------------------------------------------------
# main


def find_tools(pmpoolctl: str | None) -> Tools:
    def need(name: str, hint: str) -> str:
        found = shutil.which(name)
        if found is None:
            raise SystemExit(f"error: {name} not found on PATH ({hint})")
        return found

    python = sys.executable
    script = pmpoolctl or str(Path(sys.prefix) / "bin" / "pmpoolctl")
    if not os.access(script, os.X_OK):
        raise SystemExit(
            f"error: {script} not found: run with the project's venv python (make bench), or give --pmpoolctl"
        )
    dtc = need("dtc", "Debian/Ubuntu: apt install device-tree-compiler")
    version = subprocess.run([dtc, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return Tools(
        python=python,
        pmpoolctl=script,
        fdtget=need("fdtget", "Debian/Ubuntu: apt install device-tree-compiler"),
        dtc=dtc,
        fdtput=need("fdtput", "Debian/Ubuntu: apt install device-tree-compiler"),
        dtdiff=need("dtdiff", "Debian/Ubuntu: apt install device-tree-compiler"),
        true=need("true", "coreutils"),
        dtc_version=version.removeprefix("Version: "),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes(DEFAULT_SIZES),
        help=f"pool sizes, comma separated (default {DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--wide",
        type=parse_sizes_or_none,
        default=parse_sizes(DEFAULT_WIDE),
        help=f"wide trees: sibling node counts, comma separated, or 'none' (default {DEFAULT_WIDE})",
    )
    parser.add_argument(
        "--batches",
        type=parse_sizes_or_none,
        default=parse_sizes(DEFAULT_BATCHES),
        help=f"add-range --from batch sizes into the {size_label(BATCH_POOL)}-range pool, or 'none' "
        f"(default {DEFAULT_BATCHES}; run when the sizes include {size_label(BATCH_POOL)})",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="timed runs per command after the warm-up (default 5; the targets need >= 5)",
    )
    parser.add_argument("--warmups", type=int, default=1, help="untimed warm-up runs per command (default 1)")
    parser.add_argument(
        "--memmap", type=Path, default=DEFAULT_MEMMAP, help="/proc/iomem text to place ranges in and validate against"
    )
    parser.add_argument("--pmpoolctl", help="the pmpoolctl executable (default: the one beside this python)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "--json", action="store_true", help="print the raw results (every sample) as JSON instead of the tables"
    )
    out.add_argument("--markdown", action="store_true", help="print the tables as markdown (for benchmarks/README.md)")
    parser.add_argument("--save-json", type=Path, metavar="FILE", help="also write the raw results as JSON to FILE")
    parser.add_argument(
        "--update-readme", action="store_true", help=f"also replace the Results section of {README.relative_to(ROOT)}"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmups < 0:
        parser.error("--runs must be at least 1 and --warmups at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    tools = find_tools(args.pmpoolctl)
    memmap: Path = args.memmap.resolve()
    workdir = CACHE_DIR / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    if args.runs < 5:
        log(f"note: --runs {args.runs}: the targets ask for the median of at least 5 runs")

    pools = {size_label(count): ensure_pool(f"pool-{size_label(count)}", count, memmap, tools) for count in args.sizes}
    wides = {
        wide_label(nodes): ensure_pool(wide_label(nodes), WIDE_POOL, memmap, tools, nodes=nodes) for nodes in args.wide
    }
    batch_pool = pools.get(size_label(BATCH_POOL))
    batches = {}
    if batch_pool is not None:
        batches = {f"batch-{size_label(n)}": ensure_batch(batch_pool, n, tools) for n in args.batches}
    machine = machine_info(tools)
    machine["argv"] = ["bench.py", *(sys.argv[1:] if argv is None else argv)]
    runner = Runner(tools.python, workdir / "stderr.txt")
    floor = runner.rss_floor(tools.true)

    results: dict[str, dict[str, Command]] = {}
    groups: list[tuple[str, list[Command]]] = [("startup", startup_commands(tools))]
    groups += [
        (label, pool_commands(pool, tools, memmap, workdir, batches if pool is batch_pool else {}))
        for label, pool in pools.items()
    ]
    groups += [(label, wide_commands(pool, tools, memmap, workdir)) for label, pool in wides.items()]
    for label, commands in groups:
        huge = (label in pools and pools[label].count >= HUGE) or (label in wides and wides[label].nodes >= BIG)
        runs = min(args.runs, HUGE_RUNS) if huge else args.runs
        log(f"measuring {label}: {len(commands)} commands x ({args.warmups} warm-up + {runs} runs), round-robin")
        group_started = time.perf_counter()
        measure(commands, runs, args.warmups, runner, tools)
        results[label] = {c.key: c for c in commands}
        log(f"  {time.perf_counter() - group_started:.1f} s")
    floor = max(floor, runner.rss_floor(tools.true))
    runner.close()
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    report = Report(
        machine=machine,
        runs=args.runs,
        warmups=args.warmups,
        floor_kib=floor,
        pools={**pools, **wides},
        results=results,
        targets=evaluate_targets(results, {**pools, **wides}),
        seconds_total=time.perf_counter() - started,
    )
    if args.json:
        print(json.dumps(report.json(), indent=2))
    elif args.markdown:
        print(report.markdown())
    else:
        print(report.text())
    if args.save_json is not None:
        args.save_json.write_text(json.dumps(report.json(), indent=2) + "\n")
        log(f"wrote {args.save_json}")
    if args.update_readme:
        update_readme(report.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
