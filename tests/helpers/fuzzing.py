"""A seeded mutation fuzzer for blobs: real trees with pools, mutated, run through pmpoolctl, judged by dtc.

The corpus is the QEMU trees in tests/data with a pool node added by dtc (the
tree decompiled, the node appended to the DTS, compiled back; pmpoolctl never
builds its own input), in several layouts (packed, 1 MiB padded, version 16,
with reservations, the pool first or last), plus the two example blobs.

`mutate(seed, case)` turns case N of seed S into one mutated blob and a
one-line description; the same (S, N) always gives the same bytes, so every
failure can be replayed (`python -m tests.fuzz_campaign --seed S --replay N`).
Mutators know the blob's layout (header words, the tokens of the structure
block, the strings) and aim at it: bit flips, byte sets, header word pokes,
structure-word pokes (tags, lengths, name offsets, name bytes), reservation
entries, the pool's own values (compatible bytes, page-size, bases and sizes,
swapped ranges), truncations, deleted runs, duplicated runs, inserted tokens,
and combinations of two or three. Runs that are deleted or inserted fix the
header up half of the time, so that the damage reaches the structure walker
instead of the header checks.

`check(data, directory, dtc)` runs one mutated blob through the CLI in-process,
each command under a SIGALRM watchdog and timed, and says what happened
(outcome labels) and what is wrong with it (failures):

- `dump` exits 0 or 3; exit 3 is one `error:` line naming the file and, for a
  blob with a whole header, the byte offset; then `add-range`, `remove-range`
  and `validate` refuse it the same way and the file stays byte-identical;
- exit 0: the tree pmpoolctl reads equals dtc's reading of the same bytes (dtc
  refusing it, fatally or by its checks, is a failure too; dtc crashing in one
  of its checks is dtc's bug, and then its reader alone, every check off, is
  the oracle), `dump --json` shows dtc's header words,
  reservations and pool ranges, `dump --dts` compiles back to the same tree;
  an `add-range` of a fresh range on a copy (and a `remove-range` of a page of
  the pool) succeeds exactly when the pool keeps the binding, the result is
  read the same way by pmpoolctl and dtc and differs from the input only in
  the pool's `page-ranges`, and a refused edit leaves the copy byte-identical;
  `validate --memmap` exits 1 for a pool that breaks the binding, 3 without a
  pool, 0 or 1 otherwise;
- no output holds a character a terminal acts on (control characters other
  than newline and tab): names and values come from untrusted bytes;
- no command takes more than PER_CASE_SECONDS.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tests.conftest import DATA, Run, assert_input_error, run_cli
from tests.helpers.oracle import (
    FDT_BEGIN_NODE,
    FDT_END,
    FDT_END_NODE,
    FDT_NOP,
    FDT_PROP,
    HEADER_SIZE,
    HEADER_WORDS,
    NO_CHECKS,
    OFFSET,
    PER_CASE_SECONDS,
    Tree,
    dtc_read,
    dtc_read_unchecked,
    tree_difference,
    tree_of,
    word,
)

EXAMPLES = Path(__file__).parents[2] / "examples"
MEMMAP = DATA / "memmap" / "iomem.txt"
POOL_PATH = "/default_pmpool"
WATCHDOG_SECONDS = 10.0  # a command still running after this is a hang; over PER_CASE_SECONDS is slow
U64_LIMIT = 1 << 64
U32_MASK = 0xFFFFFFFF
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")  # what a terminal would act on; tab and newline aside

# ---------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class Token:
    """One token of a structure block: its tag's offset, the offset past it, its depth."""

    offset: int
    tag: int
    end: int
    depth: int


@dataclass(frozen=True)
class Sample:
    """A corpus blob and its layout, as this module's own small walker reads it."""

    name: str
    data: bytes
    header: dict[str, int]
    tokens: tuple[Token, ...]
    nodes: tuple[tuple[int, int], ...]  # [begin, end) of every node but the root
    props: tuple[tuple[int, int], ...]  # [begin, end) of every property token
    string_offsets: tuple[int, ...]  # where each name starts in the strings block, suffixes aside
    rsvmap_entries: int  # entries in the reservation block, the terminator included
    pool_props: tuple[tuple[str, int, int], ...]  # (name, value offset, length) of the pool's properties
    content_end: int  # past the last block; the rest up to totalsize is free space

    @property
    def struct_start(self) -> int:
        return self.header["off_dt_struct"]

    @property
    def struct_end(self) -> int:
        return self.tokens[-1].end


def _align4(value: int) -> int:
    return (value + 3) & ~3


def header_of(data: bytes) -> dict[str, int]:
    return dict(zip(HEADER_WORDS, struct.unpack_from(">10I", data)))


def sample_of(name: str, data: bytes) -> Sample:
    """Index a valid blob: its tokens, nodes, properties and strings."""
    header = header_of(data)
    offset = header["off_dt_struct"]
    tokens: list[Token] = []
    nodes: list[tuple[int, int]] = []
    props: list[tuple[int, int]] = []
    open_nodes: list[int] = []
    names: list[bytes] = []
    pool_props: list[tuple[str, int, int]] = []
    strings_at = header["off_dt_strings"]
    while True:
        tag = word(data, offset)
        depth = len(open_nodes)
        if tag == FDT_BEGIN_NODE:
            name_end = data.index(b"\0", offset + 4)
            end = _align4(name_end + 1)
            open_nodes.append(offset)
            names.append(data[offset + 4 : name_end])
        elif tag == FDT_END_NODE:
            end = offset + 4
            begin = open_nodes.pop()
            names.pop()
            depth -= 1
            if open_nodes:
                nodes.append((begin, end))
        elif tag == FDT_PROP:
            length, nameoff = word(data, offset + 4), word(data, offset + 8)
            end = _align4(offset + 12 + length)
            props.append((offset, end))
            if names[1:] == [b"default_pmpool"]:
                prop_name = data[strings_at + nameoff : data.index(b"\0", strings_at + nameoff)].decode()
                pool_props.append((prop_name, offset + 12, length))
        elif tag in (FDT_NOP, FDT_END):
            end = offset + 4
        else:
            raise ValueError(f"{name}: unknown tag {tag:#x} at {offset:#x} in a corpus blob")
        tokens.append(Token(offset, tag, end, depth))
        offset = end
        if tag == FDT_END:
            break
    strings = data[header["off_dt_strings"] : header["off_dt_strings"] + header["size_dt_strings"]]
    string_offsets = tuple([0] + [i + 1 for i, byte in enumerate(strings[:-1]) if byte == 0])
    entries = 0
    while True:
        address, size = struct.unpack_from(">QQ", data, header["off_mem_rsvmap"] + 16 * entries)
        entries += 1
        if address == size == 0:
            break
    content_end = max(
        header["off_mem_rsvmap"] + 16 * entries, offset, header["off_dt_strings"] + header["size_dt_strings"]
    )
    return Sample(
        name,
        data,
        header,
        tuple(tokens),
        tuple(nodes),
        tuple(props),
        string_offsets,
        entries,
        tuple(pool_props),
        content_end,
    )


def _pool_dts(ranges: Sequence[tuple[int, int]], page_size: int | None, extra: str = "") -> str:
    lines = ["\tdefault_pmpool {", '\t\tcompatible = "pmpool-v1";']
    if page_size is not None:
        lines.append(f"\t\tpage-size = <{page_size:#x}>;")
    if ranges:
        cells = " ".join(f"{v:#x}" for pair in ranges for v in pair)
        lines.append(f"\t\tpage-ranges = /bits/ 64 <{cells}>;")
    else:
        lines.append("\t\tpage-ranges;")
    if extra:
        lines.append(f"\t\t{extra}")
    lines.append("\t};")
    return "\n".join(lines) + "\n"


def with_pool_by_dtc(
    dtc: str,
    blob: bytes,
    pool: str,
    *,
    first_child: bool = False,
    memreserve: Sequence[tuple[int, int]] = (),
    dtc_args: Sequence[str] = (),
) -> bytes:
    """`blob` with the pool node `pool` (DTS) added by dtc: decompiled, edited as text, compiled back."""
    source = subprocess.run(
        [dtc, "-I", "dtb", "-O", "dts", "-"], input=blob, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    if first_child:  # before the root's first subnode (properties come first in DTS)
        match = re.search(r"^\t[^\t\n][^\n]* \{\n", source, re.MULTILINE)
        assert match is not None, "a tree with subnodes"
        source = source[: match.start()] + pool + "\n" + source[match.start() :]
    else:  # before the root's closing brace
        assert source.endswith("\n};\n"), source[-40:]
        source = source[: -len("};\n")] + "\n" + pool + "};\n"
    if memreserve:
        reserve = "".join(f"/memreserve/ {a:#x} {s:#x};\n" for a, s in memreserve)
        source = source.replace("/dts-v1/;\n", "/dts-v1/;\n" + reserve, 1)
    return subprocess.run(
        [dtc, "-I", "dts", "-O", "dtb", *dtc_args, "-"],
        input=source.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


M = 1 << 20
G = 1 << 30


CORPUS_NAMES = (
    "arm64-packed",
    "pseries-first",
    "riscv64-padded",
    "riscv64-v16",
    "example-pool",
    "example-arm64-1MiB",
)


@functools.cache
def corpus(dtc: str) -> tuple[Sample, ...]:
    """The real trees with pools, built once per process."""
    arm64 = (DATA / "qemu-virt-arm64.dtb").read_bytes()
    pseries = (DATA / "qemu-pseries.dtb").read_bytes()
    riscv64 = (DATA / "qemu-virt-riscv64.dtb").read_bytes()
    blobs = {
        # packed (dtc's own output), with two reservations, a pool of three ranges as the last child
        "arm64-packed": with_pool_by_dtc(
            dtc,
            arm64,
            _pool_dts([(0x48000000, 2 * M), (0x60000000, 256 * M), (0x100000000, G)], 0x1000),
            memreserve=[(0x40000000, M), (0x47F00000, 0x1000)],
        ),
        # the pool as the first child, one range, no page-size (the default)
        "pseries-first": with_pool_by_dtc(dtc, pseries, _pool_dts([(0x20000000, 64 * M)], None), first_child=True),
        # QEMU's 1 MiB of free space kept, 64 KiB pages and a property the binding does not define
        "riscv64-padded": with_pool_by_dtc(
            dtc,
            riscv64,
            _pool_dts([(0x88000000, M), (0x90000000, 16 * M)], 0x10000, 'pmpool,note = "kept";'),
            dtc_args=["-S", str(len(riscv64))],
        ),
        # version 16 (no size_dt_struct), an empty pool
        "riscv64-v16": with_pool_by_dtc(dtc, riscv64, _pool_dts([], 0x1000), dtc_args=["-V", "16"]),
        "example-pool": (EXAMPLES / "pool.dtb").read_bytes(),
        "example-arm64-1MiB": (EXAMPLES / "qemu-virt-arm64-pool.dtb").read_bytes(),
    }
    assert tuple(blobs) == CORPUS_NAMES
    return tuple(sample_of(name, data) for name, data in blobs.items())


def sample_named(dtc: str, name: str) -> Sample:
    return corpus(dtc)[CORPUS_NAMES.index(name)]


# ---------------------------------------------------------------------------
# Mutators: (rng, sample, current bytes) -> (new bytes, description)

Mutator = Callable[[random.Random, Sample, bytes], tuple[bytes, str]]
INTERESTING_BYTES = (0, 1, 2, 3, 4, 9, 0x0A, 0x1B, 0x20, 0x22, 0x2F, 0x40, 0x5B, 0x5C, 0x7F, 0x80, 0xFF)
TAGS = (FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END, 0, 5, 8, 0x01000000, U32_MASK)


def _packed(data: bytes, at: int, fmt: str, *values: int) -> bytes:
    """`data` with `values` packed at `at`; unchanged where they would not fit (an earlier step shortened it)."""
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        return data
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


def _set32(data: bytes, offset: int, value: int) -> bytes:
    return _packed(data, offset, ">I", value & U32_MASK)


def _position(rng: random.Random, sample: Sample, data: bytes) -> int:
    """A byte position: inside the blob's content mostly, anywhere in the file sometimes."""
    limit = min(sample.content_end, len(data)) if rng.random() < 0.95 else len(data)
    return rng.randrange(max(limit, 1))


def _near(rng: random.Random, value: int) -> int:
    return value + rng.choice((-8, -4, -1, 1, 4, 8))


def _interesting_word(rng: random.Random, real: int, sample: Sample, data: bytes) -> int:
    return rng.choice(
        (
            0,
            1,
            rng.randrange(2, 64),
            4 * rng.randrange(1, 32),
            len(data),
            _near(rng, len(data)),
            sample.content_end,
            U32_MASK,
            0x7FFFFFFF,
            0x80000000,
            _near(rng, real),
            _near(rng, real),
            real ^ (1 << rng.randrange(32)),
            rng.choice(list(sample.header.values())),
            rng.getrandbits(32),
        )
    )


def bit_flips(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "flip bits: nothing to flip"
    out = bytearray(data)
    flips = []
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        at, bit = _position(rng, sample, data), rng.randrange(8)
        out[at] ^= 1 << bit
        flips.append(f"{at:#x}.{bit}")
    return bytes(out), f"flip bits {','.join(flips)}"


def byte_sets(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "set bytes: nothing to set"
    out = bytearray(data)
    sets = []
    for _ in range(rng.choice((1, 1, 2, 4))):
        at = _position(rng, sample, data)
        value = rng.choice(INTERESTING_BYTES) if rng.random() < 0.8 else rng.randrange(256)
        out[at] = value
        sets.append(f"{at:#x}={value:#04x}")
    return bytes(out), f"set bytes {','.join(sets)}"


def header_word(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    name = rng.choice(HEADER_WORDS)
    real = word(data, OFFSET[name]) if len(data) >= HEADER_SIZE else sample.header[name]
    if name in ("version", "last_comp_version") and rng.random() < 0.6:
        value = rng.choice((0, 1, 2, 15, 16, 17, 18, 0x11000000, U32_MASK))
    elif name == "magic" and rng.random() < 0.5:
        value = rng.choice((0xEDFE0DD0, 0xD00DFEEE, 0))
    else:
        value = _interesting_word(rng, real, sample, data)
    value &= U32_MASK
    return _set32(data, OFFSET[name], value), f"header {name} = {value:#x} (was {real:#x})"


def structure_word(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    """A tag, a property length or name offset, or a node-name byte of a real token; or any aligned word."""
    if rng.random() < 0.15:
        at = sample.struct_start + 4 * rng.randrange((sample.struct_end - sample.struct_start) // 4)
        value = rng.choice((*TAGS, _near(rng, word(sample.data, at)), rng.getrandbits(32))) & U32_MASK
        return _set32(data, at, value), f"struct word {at:#x} = {value:#x}"
    token = rng.choice(sample.tokens)
    choice = rng.random()
    if token.tag == FDT_PROP and choice < 0.4:
        at = token.offset + 4
        real = word(sample.data, at)
        value_at = token.offset + 12
        value = rng.choice(
            (
                0,
                1,
                3,
                4,
                16,
                _near(rng, real),
                _near(rng, real),
                real + 16,
                sample.struct_end - value_at,
                sample.struct_end - value_at + 1,
                sample.struct_end - value_at - 4,
                0x7FFFFFFF,
                U32_MASK,
                rng.getrandbits(32),
            )
        )
        value &= U32_MASK
        return _set32(data, at, value), f"prop@{token.offset:#x} length = {value:#x} (was {real:#x})"
    if token.tag == FDT_PROP and choice < 0.8:
        at = token.offset + 8
        real = word(sample.data, at)
        size = sample.header["size_dt_strings"]
        value = rng.choice(
            (
                0,
                rng.choice(sample.string_offsets),
                rng.choice(sample.string_offsets),
                rng.choice(sample.string_offsets) + rng.randrange(1, 4),  # a suffix of a name
                real + 1,
                real - 1,
                size,
                size - 1,
                size + 1,
                0x7FFFFFFF,
                U32_MASK,
                rng.getrandbits(32),
            )
        )
        value &= U32_MASK
        return _set32(data, at, value), f"prop@{token.offset:#x} nameoff = {value:#x} (was {real:#x})"
    if token.tag == FDT_BEGIN_NODE and choice < 0.6 and token.end > token.offset + 4:
        at = rng.randrange(token.offset + 4, token.end)
        value = rng.choice((0, 0x2F, 0x40, 0x20, 0x80, 0x23, 0x3A, 0x41, rng.randrange(256)))
        return _packed(data, at, ">B", value), f"node@{token.offset:#x} name byte {at:#x} = {value:#04x}"
    value = rng.choice(TAGS)
    return _set32(data, token.offset, value), f"tag@{token.offset:#x} = {value:#x} (was {token.tag:#x})"


def reservation(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    """An address or size of a reservation entry (the terminator included)."""
    entry = rng.randrange(sample.rsvmap_entries)
    part = rng.choice(("address", "size"))
    at = sample.header["off_mem_rsvmap"] + 16 * entry + (8 if part == "size" else 0)
    value = rng.choice((0, 1, 0x1000, U64_LIMIT - 1, 1 << 63, rng.getrandbits(64), rng.getrandbits(32) << 12))
    return _packed(data, at, ">Q", value), f"reservation {entry} {part} = {value:#x}"


def _boundaries(sample: Sample) -> list[int]:
    h = sample.header
    return [
        *(t.offset for t in sample.tokens),
        sample.struct_end,
        h["off_mem_rsvmap"],
        h["off_dt_strings"],
        h["off_dt_strings"] + h["size_dt_strings"],
        sample.content_end,
        h["totalsize"],
    ]


def truncation(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    choice = rng.random()
    if choice < 0.1:
        length = rng.randrange(HEADER_SIZE + 1)
    elif choice < 0.6:
        length = max(0, rng.choice(_boundaries(sample)) + rng.choice((0, 0, -1, 1, -4, 4)))
    else:
        length = rng.randrange(max(sample.content_end, 1))
    length = min(length, len(data))
    return data[:length], f"truncate to {length:#x}"


def _resized(data: bytes, at: int, delta: int) -> bytes:
    """Header words moved after `delta` bytes were inserted (or -delta deleted) at `at`.

    The block that held `at` grows or shrinks; blocks after it move; totalsize follows.
    """
    if len(data) < HEADER_SIZE:
        return data
    h = header_of(data)
    v17 = h["version"] >= 17
    struct_start = h["off_dt_struct"]
    struct_end = struct_start + h["size_dt_struct"] if v17 else h["off_dt_strings"]
    strings_start = h["off_dt_strings"]
    strings_end = strings_start + h["size_dt_strings"]
    in_struct = struct_start <= at <= struct_end
    in_strings = not in_struct and strings_start <= at <= strings_end
    words = dict(h)
    for name, grows in (("off_dt_struct", in_struct), ("off_dt_strings", in_strings), ("off_mem_rsvmap", False)):
        if words[name] > at or (words[name] == at and not grows):
            words[name] += delta
    if in_struct and v17:
        words["size_dt_struct"] += delta
    if in_strings:
        words["size_dt_strings"] += delta
    if words["totalsize"] >= at:
        words["totalsize"] += delta
    out = bytearray(data)
    for name in ("totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap", "size_dt_strings", "size_dt_struct"):
        struct.pack_into(">I", out, OFFSET[name], words[name] & U32_MASK)
    return bytes(out)


def _run(rng: random.Random, sample: Sample, data: bytes) -> tuple[int, int, str]:
    """A run of bytes: a node, a property, one token, a few aligned words, or a few bytes."""
    choice = rng.random()
    if choice < 0.25 and sample.nodes:
        start, end = rng.choice(sample.nodes)
        what = "node"
    elif choice < 0.5 and sample.props:
        start, end = rng.choice(sample.props)
        what = "property"
    elif choice < 0.7:
        token = rng.choice(sample.tokens)
        start, end, what = token.offset, token.offset + 4, "tag"
    elif choice < 0.85:
        start = 4 * (_position(rng, sample, data) // 4)
        end, what = start + 4 * rng.randrange(1, 9), "words"
    else:
        start = _position(rng, sample, data)
        end, what = start + rng.randrange(1, 33), "bytes"
    end = min(end, len(data))
    return start, end, what


def deleted_run(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    start, end, what = _run(rng, sample, data)
    out = data[:start] + data[end:]
    fix = rng.random() < 0.5
    if fix:
        out = _resized(out, start, start - end)
    return out, f"delete {what} [{start:#x}, {end:#x}){' fixing the header' if fix else ''}"


def duplicated_run(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    start, end, what = _run(rng, sample, data)
    chunk = data[start:end]
    if rng.random() < 0.7:
        at = min(rng.choice([t.offset for t in sample.tokens] + [sample.struct_end]), len(data))
    else:
        at = _position(rng, sample, data)
    out = data[:at] + chunk + data[at:]
    fix = rng.random() < 0.5
    if fix:
        out = _resized(out, at, len(chunk))
    return out, f"copy {what} [{start:#x}, {end:#x}) to {at:#x}{' fixing the header' if fix else ''}"


def inserted_token(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    """A NOP, END_NODE, END, an empty or named BEGIN_NODE, or a property at a token boundary."""
    kind = rng.choice(("nop", "nop", "end-node", "end", "begin", "begin+end", "prop"))
    if kind == "nop":
        chunk = struct.pack(">I", FDT_NOP) * rng.choice((1, 1, 2))
    elif kind == "end-node":
        chunk = struct.pack(">I", FDT_END_NODE)
    elif kind == "end":
        chunk = struct.pack(">I", FDT_END)
    elif kind == "begin":
        chunk = struct.pack(">I", FDT_BEGIN_NODE) + b"fuzz\0\0\0\0"
    elif kind == "begin+end":
        chunk = struct.pack(">II", FDT_BEGIN_NODE, 0) + struct.pack(">I", FDT_END_NODE)  # an empty name
    else:
        nameoff = rng.choice(sample.string_offsets)
        chunk = struct.pack(">III", FDT_PROP, 4, nameoff) + b"\0\0\0\x01"
    at = min(rng.choice([t.offset for t in sample.tokens] + [sample.struct_end]), len(data))
    out = _resized(data[:at] + chunk + data[at:], at, len(chunk))
    return out, f"insert {kind} at {at:#x}"


def pool_value(rng: random.Random, sample: Sample, data: bytes) -> tuple[bytes, str]:
    """A byte of the pool's compatible, its page-size, or a base or size in its page-ranges (or two swapped)."""
    name, at, length = rng.choice(sample.pool_props)
    if name == "page-ranges" and length >= 16:
        values = struct.unpack_from(f">{length // 8}Q", sample.data, at)
        index = rng.randrange(len(values))
        page = next((word(sample.data, a) for n, a, size in sample.pool_props if n == "page-size" and size == 4), 4096)
        if rng.random() < 0.15 and len(values) >= 4:
            first, second = sorted(rng.sample(range(len(values) // 2), 2))
            pairs = [values[i : i + 2] for i in range(0, len(values), 2)]
            pairs[first], pairs[second] = pairs[second], pairs[first]
            swapped = _packed(data, at, f">{len(values)}Q", *(v for pair in pairs for v in pair))
            return swapped, f"pool page-ranges: swap ranges {first} and {second}"
        value = (
            rng.choice(
                (
                    0,
                    1,
                    page - 1,
                    page,
                    values[index] + page,
                    values[index] - page,
                    values[index] + 1,
                    values[index] * 2,
                    rng.choice(values),
                    U64_LIMIT - page,
                    U64_LIMIT - 1,
                    1 << 63,
                    rng.getrandbits(52) * page,
                )
            )
            % U64_LIMIT
        )
        return _packed(data, at + 8 * index, ">Q", value), f"pool page-ranges value {index} = {value:#x}"
    if name == "page-size" and length == 4:
        value = rng.choice((0, 1, 2048, 0xFFF, 0x1000, 0x1001, 0x2000, 0x3000, 0x10000, 1 << 31, U32_MASK))
        return _packed(data, at, ">I", value), f"pool page-size = {value:#x}"
    if length == 0:
        return data, f"pool {name}: empty, left alone"
    index = rng.randrange(length)
    value = rng.choice((0, 0x0A, 0x1B, 0x22, 0x5C, 0x5B, 0x5D, 0x7F, 0x80, 0xFF, 0x41, rng.randrange(256)))
    return _packed(data, at + index, ">B", value), f"pool {name} byte {index} = {value:#04x}"


MUTATORS: dict[str, Mutator] = {
    "bit-flip": bit_flips,
    "byte-set": byte_sets,
    "header-word": header_word,
    "struct-word": structure_word,
    "reservation": reservation,
    "truncate": truncation,
    "delete-run": deleted_run,
    "duplicate-run": duplicated_run,
    "insert-token": inserted_token,
    "pool-value": pool_value,
}
# How often each is drawn; "combo" applies two or three of the others in turn.
WEIGHTS = {
    "bit-flip": 3,
    "byte-set": 2,
    "header-word": 3,
    "struct-word": 4,
    "reservation": 1,
    "truncate": 2,
    "delete-run": 3,
    "duplicate-run": 3,
    "insert-token": 2,
    "pool-value": 3,
    "combo": 4,
}


@dataclass(frozen=True)
class Mutant:
    seed: int
    case: int
    sample: str
    kind: str  # a MUTATORS key or "combo"
    description: str  # what was done, in one line
    data: bytes

    @property
    def label(self) -> str:
        return f"seed {self.seed} case {self.case}: {self.sample}: {self.description}"


def mutate(dtc: str, seed: int, case: int) -> Mutant:
    """Case `case` of `seed`: the same bytes and description every time."""
    samples = corpus(dtc)
    sample = samples[case % len(samples)]
    rng = random.Random(f"pmpoolctl-fuzz/{seed}/{case}")
    kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    names = rng.sample(list(MUTATORS), rng.choice((2, 2, 3))) if kind == "combo" else [kind]
    data = sample.data
    steps = []
    for name in names:
        data, step = MUTATORS[name](rng, sample, data)
        steps.append(step)
    return Mutant(seed, case, sample.name, kind, " + ".join(steps), data)


# ---------------------------------------------------------------------------
# Running the CLI under a watchdog


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so that the CLI's last-resort handler does not catch it."""


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread if the body runs longer than `seconds`."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # None: the handler was not installed from Python (libFuzzer's); the default is all we can put back
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)


# ---------------------------------------------------------------------------
# The pool as the binding defines it, decoded from dtc's reading


@dataclass(frozen=True)
class PoolFacts:
    """The pool node in a tree: its properties, whether it keeps the binding, its ranges."""

    properties: list[tuple[str, bytes]]
    valid: bool  # compatible, page-size, page-ranges and rules 1-4 of the canonical form as the binding says
    editable: bool  # valid, and a leaf (a node with subnodes cannot be rewritten in place)
    page_size: int
    ranges: list[tuple[int, int]]  # (base, size)


def pool_facts(tree: Tree) -> PoolFacts | None:
    props = dict(tree.nodes).get(POOL_PATH)
    if props is None:
        return None
    values = dict(props)
    valid = values.get("compatible") == b"pmpool-v1\0"
    page_size = 4096
    if "page-size" in values:
        raw = values["page-size"]
        value = int.from_bytes(raw, "big")
        if len(raw) == 4 and value >= 4096 and value & (value - 1) == 0:
            page_size = value
        else:
            valid = False
    raw_ranges = values.get("page-ranges")
    if raw_ranges is None or len(raw_ranges) % 16:
        valid = False
        raw_ranges = (raw_ranges or b"")[: len(raw_ranges or b"") // 16 * 16]
    numbers = struct.unpack(f">{len(raw_ranges) // 8}Q", raw_ranges)
    ranges = list(zip(numbers[0::2], numbers[1::2]))
    for base, size in ranges:
        if size == 0 or base % page_size or size % page_size or base + size > U64_LIMIT:
            valid = False
    for (base, size), (next_base, _) in itertools.pairwise(ranges):
        if next_base < base + size:  # unsorted or overlapping
            valid = False
    leaf = not any(path.startswith(POOL_PATH + "/") for path, _ in tree.nodes)
    return PoolFacts(props, valid, valid and leaf, page_size, ranges)


def canonical(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping and touching ranges merged, empty ones dropped."""
    merged: list[list[int]] = []
    for base, size in sorted(r for r in ranges if r[1]):
        if merged and base <= merged[-1][0] + merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], base + size - merged[-1][0])
        else:
            merged.append([base, size])
    return [(base, size) for base, size in merged]


def minus(ranges: Sequence[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    cut_end = cut[0] + cut[1]
    for base, size in canonical(ranges):
        end = base + size
        if base < cut[0]:
            out.append((base, min(end, cut[0]) - base))
        if end > cut_end:
            start = max(base, cut_end)
            out.append((start, end - start))
    return out


def fresh_range(pool: PoolFacts) -> tuple[int, int] | None:
    """A page-sized range that overlaps none of the pool's ranges (None if these candidates all do)."""
    page = pool.page_size
    top = max((base + size for base, size in pool.ranges), default=0)
    for base in ((top + page - 1) // page * page, 0x200000000, 0, U64_LIMIT // 2):
        clear = all(base + page <= b or base >= b + s for b, s in pool.ranges)
        if base % page == 0 and base + page <= U64_LIMIT and clear:
            return base, page
    return None


def _u64s(ranges: Sequence[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack(">QQ", base, size) for base, size in ranges)


# ---------------------------------------------------------------------------
# One case


@dataclass
class Checked:
    outcomes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0  # seconds, the slowest pmpoolctl command


class _Case:
    """The checks of one mutated blob; failures are collected, never raised."""

    def __init__(self, data: bytes, directory: Path, dtc: str, *, dts: bool, edits: bool) -> None:
        self.data = data
        self.directory = directory
        self.dtc = dtc
        self.dts = dts
        self.edits = edits
        self.result = Checked()
        self.dtc_reading = ""  # the status of dtc's last reading
        self.dtc_checks_off = False  # dtc's checks refuse (or crash on) the input: the outputs are held to its reader

    def fail(self, kind: str, message: str) -> None:
        self.result.failures.append(f"{kind}: {message}")

    def cli(self, *args: str) -> Run:
        start = time.perf_counter()
        try:
            with watchdog(WATCHDOG_SECONDS):
                run = run_cli(args)
        finally:
            elapsed = time.perf_counter() - start
            self.result.slowest = max(self.result.slowest, elapsed)
        if elapsed > PER_CASE_SECONDS:
            self.fail("slow", f"slow: `{' '.join(args[:1])}` took {elapsed:.2f} s")
        for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
            raw = CONTROL.search(text)
            if raw:
                self.fail("control-char", f"`{args[0]}` wrote {raw.group()!r} to {stream}: {text[:200]!r}")
        if "Traceback" in run.stderr:
            self.fail("traceback", f"traceback from `{args[0]}`: {run.stderr.strip()[-300:]}")
        return run

    def input_error(self, run: Run, path: Path, what: str, *, offset: bool) -> None:
        """Exit 3 with one `error:` line naming the file (and the offset of a structural fault)."""
        needles = [path.name]
        if offset:
            needles.append("offset" if len(self.data) >= HEADER_SIZE else "too short")
        try:
            assert_input_error(run, *needles)
            assert run.stdout == "", f"stdout: {run.stdout[:200]!r}"
        except AssertionError as exc:
            self.fail("bad-refusal", f"{what}: bad refusal: {exc}")

    def stray_files(self, *keep: Path) -> None:
        names = {p.name for p in keep}
        stray = sorted(p.name for p in self.directory.iterdir() if p.name not in names and not p.name.endswith(".lock"))
        if stray:
            self.fail("stray-files", f"files left behind: {stray}")
            for name in stray:
                (self.directory / name).unlink()

    def run(self) -> Checked:
        path = self.directory / "fuzz.dtb"
        path.write_bytes(self.data)
        dump = self.cli("dump", str(path))
        if dump.exit_code == 3:
            self.result.outcomes.append("refused")
            self.input_error(dump, path, "dump", offset=True)
            if self.edits:
                self.refused_everywhere(path)
        elif dump.exit_code == 0:
            self.result.outcomes.append("accepted")
            if dump.stderr:
                self.fail("stderr", f"dump: exit 0 with stderr {dump.stderr.strip()[:300]!r}")
            self.accepted(path)
        else:
            self.fail("exit-code", f"dump: exit {dump.exit_code}: {dump.stderr.strip()[:300]}")
        self.stray_files(path)
        return self.result

    def refused_everywhere(self, path: Path) -> None:
        """A blob dump refuses: the edits and validate refuse it too, and nothing is written."""
        for args in (
            ("add-range", str(path), "0x200000000", "0x100000"),
            ("remove-range", str(path), "0x100000000", "0x100000"),
            ("validate", str(path), "--memmap", str(MEMMAP)),
        ):
            run = self.cli(*args)
            self.input_error(run, path, args[0], offset=True)
            if path.read_bytes() != self.data:
                self.fail("wrote-refused", f"{args[0]} changed a blob it refused")
                path.write_bytes(self.data)

    def accepted(self, path: Path) -> None:
        try:
            ours = tree_of(self.data)
        except Exception as exc:  # noqa: BLE001 - any exception here is a finding to report
            self.fail("reader", f"dump read it but the reader refuses it: {exc}")
            return
        theirs = self.dtc_agrees(ours, self.data, "dump")
        if theirs is None:
            return
        self.dtc_checks_off = self.dtc_reading != "ok"
        if self.dtc_reading != "checks":
            self.result.outcomes.append("accepted-same-as-dtc")
        self.json_agrees(path, theirs)
        if self.dts:
            self.dts_agrees(path, ours)
        facts = pool_facts(theirs)
        self.result.outcomes.append("no-pool" if facts is None else "pool-valid" if facts.valid else "pool-invalid")
        if not self.edits:
            return
        self.edit(ours, facts, "add-range")
        if facts is not None and facts.editable and facts.ranges:
            self.edit(ours, facts, "remove-range")
        self.validate(path, facts)

    def dtc_agrees(self, ours: Tree, data: bytes, what: str) -> Tree | None:
        """dtc's reading of `data` when it is the tree `ours`; None when dtc cannot read it or reads another.

        Sets `dtc_reading`: "ok"; "checks" (dtc -f reads the same tree, but dtc's checks refuse it: a
        failure, reported once per case); "crashed" (a check crashed dtc, its reader alone agrees).
        """
        reading = dtc_read(self.dtc, data)
        self.dtc_reading = reading.status
        if reading.status == "fatal":
            unchecked = dtc_read_unchecked(self.dtc, data)
            if unchecked.status != "ok":
                self.fail("dtc-fatal", f"{what}: dtc cannot read a blob pmpoolctl reads: {reading.stderr[:300]}")
                return None
            # dtc's reader takes it, and one of its checks crashed (even dtc -f failed): dtc's bug, not ours.
            self.result.outcomes.append(f"dtc-check-crashed ({what})")
            self.dtc_reading = "crashed"
            reading = unchecked
        theirs = tree_of(reading.blob)
        if theirs != ours:
            self.fail("different-tree", f"{what}: different tree from dtc's: {tree_difference(ours, theirs)[:600]}")
            return None
        if reading.status == "checks" and not self.dtc_checks_off:
            self.fail("dtc-checks", f"{what}: dtc's checks refuse a tree pmpoolctl reads: {reading.stderr[:300]}")
        return theirs

    def json_agrees(self, path: Path, theirs: Tree) -> None:
        run = self.cli("dump", str(path), "--json")
        if run.exit_code != 0:
            self.fail("json", f"dump --json: exit {run.exit_code} where dump exits 0: {run.stderr.strip()[:300]}")
            return
        try:
            document = json.loads(run.stdout)
        except ValueError as exc:
            self.fail("json", f"dump --json: not JSON: {exc}")
            return
        header = header_of(self.data)
        shown = document.get("header", {})
        for name in ("version", "last_comp_version", "totalsize", "boot_cpuid_phys"):
            if shown.get(name) != header[name]:
                self.fail("json", f"dump --json: header {name} {shown.get(name)!r}, the blob says {header[name]}")
        reservations = [(r.get("address"), r.get("size")) for r in document.get("reservations", [])]
        if reservations != theirs.reservations:
            self.fail("json", f"dump --json: reservations {reservations[:4]}, dtc's {theirs.reservations[:4]}")
        facts = pool_facts(theirs)
        pool = document.get("pool")
        if (pool is None) != (facts is None):
            self.fail("json", f"dump --json: pool {'null' if pool is None else 'shown'} where dtc's tree has {facts}")
        elif pool is not None and facts is not None:
            raw = dict(facts.properties).get("page-ranges")
            shown_ranges = [(r.get("base"), r.get("size")) for r in pool.get("ranges", [])]
            if raw is not None and len(raw) % 16 == 0 and shown_ranges != facts.ranges:
                self.fail("json", f"dump --json: pool ranges {shown_ranges[:4]}, dtc's {facts.ranges[:4]}")
            if any(r.get("end") != r.get("base", 0) + r.get("size", 0) for r in pool.get("ranges", [])):
                self.fail("json", "dump --json: a range's end is not base + size")

    def dts_agrees(self, path: Path, ours: Tree) -> None:
        run = self.cli("dump", str(path), "--dts")
        checks = NO_CHECKS if self.dtc_checks_off else ()
        compiled = subprocess.run(
            [self.dtc, *checks, "-I", "dts", "-O", "dtb", "-"],
            input=run.stdout.encode(),
            capture_output=True,
            timeout=30,
            check=False,
        )
        if run.exit_code != 0 or compiled.returncode != 0:
            errors = [line for line in compiled.stderr.decode(errors="replace").splitlines() if "Warning" not in line]
            self.fail("dts", f"dump --dts: exit {run.exit_code}, dtc does not compile it: {' | '.join(errors)[:300]}")
            return
        back = tree_of(compiled.stdout)
        if back != ours:
            self.fail("dts", f"dump --dts: compiles to another tree: {tree_difference(ours, back)[:600]}")

    def edit(self, ours: Tree, facts: PoolFacts | None, command: str) -> None:
        """An edit of a copy: applied exactly when the pool keeps the binding, and nothing else changes."""
        if facts is None:
            change: tuple[int, int] | None = (0x200000000, 0x100000)
        elif command == "add-range":
            change = fresh_range(facts)
        else:
            change = (facts.ranges[0][0], facts.page_size)
        if change is None:
            self.result.outcomes.append("edit-skipped")
            return
        path = self.directory / "edit.dtb"
        path.write_bytes(self.data)
        run = self.cli(command, str(path), hex(change[0]), hex(change[1]))
        edited = path.read_bytes()
        expect_success = facts is not None and facts.editable
        name = "edit" if command == "add-range" else "remove"
        if run.exit_code == 3:
            self.result.outcomes.append(f"{name}-refused")
            self.input_error(run, path, command, offset=False)
            if edited != self.data:
                self.fail("wrote-refused", f"{command}: refused, but the file changed")
            if expect_success:
                self.fail("edit-refused-valid", f"{command} {change[0]:#x} {change[1]:#x}: {run.stderr.strip()}")
        elif run.exit_code == 0:
            self.result.outcomes.append("edited" if name == "edit" else "removed")
            if facts is None or not facts.editable:
                self.fail("edit-accepted-invalid", f"{command}: edited a pool that breaks the binding: {facts}")
                return
            add = command == "add-range"
            expected = canonical([*facts.ranges, change]) if add else minus(facts.ranges, change)
            self.edit_kept_the_rest(ours, facts, edited, expected, command)
        else:
            self.fail("exit-code", f"{command}: exit {run.exit_code}: {run.stderr.strip()[:300]}")
        self.stray_files(self.directory / "fuzz.dtb", path)
        path.unlink()

    def edit_kept_the_rest(
        self, ours: Tree, facts: PoolFacts, edited: bytes, expected: list[tuple[int, int]], command: str
    ) -> None:
        try:
            after = tree_of(edited)
        except Exception as exc:  # noqa: BLE001 - any exception here is a finding to report
            self.fail("edit-result", f"{command}: the written blob does not read back: {exc}")
            return
        if self.dtc_agrees(after, edited, f"{command} result") is None:
            return
        if after.reservations != ours.reservations:
            self.fail("edit-result", f"{command}: reservations changed: {tree_difference(ours, after)}")
        if [p for p, _ in after.nodes] != [p for p, _ in ours.nodes]:
            self.fail("edit-result", f"{command}: the node paths changed: {tree_difference(ours, after)}")
            return
        pool_props = [(n, _u64s(expected) if n == "page-ranges" else v) for n, v in facts.properties]
        for (path, before), (_, now) in zip(ours.nodes, after.nodes):
            want = pool_props if path == POOL_PATH else before
            if now != want:
                self.fail("edit-result", f"{command}: {path} is {now!r:.300}, expected {want!r:.300}")
        old, new = header_of(self.data), header_of(edited)
        for name in ("magic", "version", "last_comp_version", "boot_cpuid_phys"):
            if old[name] != new[name]:
                self.fail("edit-result", f"{command}: header {name} changed from {old[name]:#x} to {new[name]:#x}")
        if new["totalsize"] < old["totalsize"]:
            self.fail("edit-result", f"{command}: totalsize shrank from {old['totalsize']} to {new['totalsize']}")
        if len(edited) != new["totalsize"]:
            self.fail("edit-result", f"{command}: wrote {len(edited)} bytes for a totalsize of {new['totalsize']}")

    def validate(self, path: Path, facts: PoolFacts | None) -> None:
        run = self.cli("validate", str(path), "--memmap", str(MEMMAP))
        self.result.outcomes.append(f"validate-{run.exit_code}")
        if facts is None:
            if run.exit_code != 3:
                self.fail("validate", f"validate: exit {run.exit_code} for a blob without a pool")
            else:
                self.input_error(run, path, "validate", offset=False)
        elif not facts.valid:
            if run.exit_code != 1:
                self.fail("validate", f"exit {run.exit_code} for a pool that breaks the binding: {run.stderr.strip()}")
        elif run.exit_code == 3:
            self.input_error(run, path, "validate", offset=False)
        elif run.exit_code not in (0, 1):
            self.fail("validate", f"validate: exit {run.exit_code}: {run.stderr.strip()[:300]}")


def check(data: bytes, directory: Path, dtc: str, *, dts: bool = True, edits: bool = True) -> Checked:
    """Run one mutated blob through pmpoolctl in `directory` (which should hold nothing else).

    Without `edits`, only the reading commands (dump, dump --json, and dump --dts with `dts`) are held
    to the invariants: what the coverage-guided fuzzer can afford per input.
    """
    case = _Case(data, directory, dtc, dts=dts, edits=edits)
    try:
        return case.run()
    except Hang as exc:
        case.fail("hang", f"a command is {exc}")
    except Exception as exc:  # noqa: BLE001 - a checker crash is reported with the case, not lost
        case.fail("checker", f"{type(exc).__name__}: {exc}")
    for leftover in directory.iterdir():
        if leftover.is_file():
            leftover.unlink()
    return case.result


@dataclass(frozen=True)
class CaseResult:
    mutant: Mutant
    checked: Checked


def run_case(dtc: str, seed: int, case: int, directory: Path, *, dts: bool = True) -> CaseResult:
    try:
        mutant = mutate(dtc, seed, case)
    except Exception as exc:  # noqa: BLE001 - a fuzzer bug is reported with its case, not a crashed campaign
        mutant = Mutant(seed, case, "?", "?", "the mutator crashed", b"")
        return CaseResult(mutant, Checked(failures=[f"fuzzer: {type(exc).__name__}: {exc}"]))
    checked = check(mutant.data, directory, dtc, dts=dts)
    if mutant.data == corpus(dtc)[case % len(corpus(dtc))].data:
        checked.outcomes.append("unchanged")
    return CaseResult(mutant, checked)


def run_cases(dtc: str, seed: int, cases: Sequence[int], *, dts: bool = True) -> list[CaseResult]:
    with tempfile.TemporaryDirectory(prefix="pmpoolctl-fuzz-") as directory:
        return [run_case(dtc, seed, case, Path(directory), dts=dts) for case in cases]


def outcome_counts(results: Sequence[CaseResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        for outcome in result.checked.outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        if result.checked.failures:
            counts["FAILED"] = counts.get("FAILED", 0) + 1
    return dict(sorted(counts.items()))


def failure_lines(results: Sequence[CaseResult]) -> list[str]:
    return [f"{r.mutant.label}: {failure}" for r in results for failure in r.checked.failures]


__all__ = ["CaseResult", "Checked", "Mutant", "check", "corpus", "mutate", "run_case", "run_cases"]
