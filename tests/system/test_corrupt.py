"""Corrupt input: every damaged blob ends in exit 0 or one `error:` line (exit 3), never a traceback.

The test blob is built here, token by token, by a small writer that lays blobs
out exactly as dtc does (`test_builder_matches_dtc` holds it to that), so each
structural fault can be made precisely. Whenever the reader accepts a damaged
blob, dtc is the oracle: it must read the same bytes into the same tree
(`tree_of`), or the reader has silently shown a different tree.
"""

from __future__ import annotations

import functools
import json
import random
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Run, assert_input_error, run_cli
from tests.helpers.oracle import (
    FDT_BEGIN_NODE,
    FDT_END,
    FDT_END_NODE,
    FDT_MAGIC,
    FDT_NOP,
    FDT_PROP,
    HEADER_SIZE,
    HEADER_WORDS,
    OFFSET,
    PER_CASE_SECONDS,
    dtc_read,
    poke32,
    tree_difference,
    tree_of,
    word,
)

# ---------------------------------------------------------------------------
# A token-level blob writer with dtc's layout


@dataclass(frozen=True)
class Begin:
    """FDT_BEGIN_NODE and the name; `terminated=False` leaves out the NUL and the padding."""

    name: bytes
    terminated: bool = True


@dataclass(frozen=True)
class EndNode:
    """FDT_END_NODE."""


@dataclass(frozen=True)
class Prop:
    """FDT_PROP; `length` and `nameoff` override the words the writer would compute."""

    name: str
    value: bytes
    length: int | None = None
    nameoff: int | None = None


@dataclass(frozen=True)
class Word:
    """One raw big-endian u32 in the structure block (FDT_NOP, FDT_END, a bad tag)."""

    value: int


Token = Begin | EndNode | Prop | Word
NodeSpec = tuple[str, list[tuple[str, bytes]], list["NodeSpec"]]


@dataclass(frozen=True)
class Built:
    data: bytes
    token_offsets: list[int]  # absolute offset of each token
    off_dt_struct: int
    off_dt_strings: int
    size_dt_strings: int

    def prop_tags(self, tokens: Sequence[Token]) -> list[tuple[int, Prop]]:
        """(absolute offset of the FDT_PROP tag, the token) for every property."""
        return [(at, tok) for at, tok in zip(self.token_offsets, tokens) if isinstance(tok, Prop)]


def _pad4(data: bytearray) -> None:
    data += bytes(-len(data) % 4)


def build(
    tokens: Sequence[Token],
    reservations: Sequence[tuple[int, int]] | None = None,
    *,
    terminator: tuple[int, int] = (0, 0),
) -> Built:
    """A version 17 blob: header, reservations (+ `terminator`), structure, strings, nothing after."""
    entries = RESERVATIONS if reservations is None else reservations
    strings = bytearray()
    structure = bytearray()
    off_dt_struct = HEADER_SIZE + 16 * (len(entries) + 1)
    offsets: list[int] = []
    for tok in tokens:
        offsets.append(off_dt_struct + len(structure))
        if isinstance(tok, Begin):
            structure += struct.pack(">I", FDT_BEGIN_NODE) + tok.name
            if tok.terminated:
                structure += b"\0"
                _pad4(structure)
        elif isinstance(tok, EndNode):
            structure += struct.pack(">I", FDT_END_NODE)
        elif isinstance(tok, Prop):
            needle = tok.name.encode("latin-1") + b"\0"
            found = strings.find(needle)  # dtc reuses any earlier string that ends the same way
            if found < 0:
                found = len(strings)
                strings += needle
            length = len(tok.value) if tok.length is None else tok.length
            nameoff = found if tok.nameoff is None else tok.nameoff
            structure += struct.pack(">III", FDT_PROP, length, nameoff) + tok.value
            _pad4(structure)
        else:
            structure += struct.pack(">I", tok.value)
    off_dt_strings = off_dt_struct + len(structure)
    totalsize = off_dt_strings + len(strings)
    header = struct.pack(
        ">10I",
        FDT_MAGIC,
        totalsize,
        off_dt_struct,
        off_dt_strings,
        HEADER_SIZE,
        17,
        16,
        0,
        len(strings),
        len(structure),
    )
    rsvmap = b"".join(struct.pack(">QQ", a, s) for a, s in entries) + struct.pack(">QQ", *terminator)
    return Built(
        header + rsvmap + bytes(structure) + bytes(strings), offsets, off_dt_struct, off_dt_strings, len(strings)
    )


def tokens_of(tree: NodeSpec) -> list[Token]:
    out: list[Token] = []

    def walk(node: NodeSpec) -> None:
        name, props, children = node
        out.append(Begin(name.encode("ascii")))
        out.extend(Prop(key, value) for key, value in props)
        for child in children:
            walk(child)
        out.append(EndNode())

    walk(tree)
    out.append(Word(FDT_END))
    return out


def strs(*texts: str) -> bytes:
    return b"".join(t.encode("ascii") + b"\0" for t in texts)


def cells(*values: int) -> bytes:
    return b"".join(struct.pack(">I", v) for v in values)


def u64s(*values: int) -> bytes:
    return b"".join(struct.pack(">Q", v) for v in values)


# ---------------------------------------------------------------------------
# The small test blob: reservations, nested nodes, string lists and a pool

SMALL_DTS = """\
/dts-v1/;

/memreserve/ 0x10000000 0x100000;
/memreserve/ 0x20000000 0x2000;

/ {
\t#address-cells = <0x2>;
\t#size-cells = <0x2>;
\tmodel = "pmpool test board";
\tcompatible = "pmpool,test-board", "pmpool,test-soc";

\tchosen {
\t\tbootargs = "console=ttyS0 quiet";
\t};

\tmemory@40000000 {
\t\tdevice_type = "memory";
\t\treg = <0x0 0x40000000 0x1 0x0>;
\t};

\tsoc {
\t\tcompatible = "simple-bus";
\t\t#address-cells = <0x2>;
\t\t#size-cells = <0x2>;
\t\tranges;

\t\tserial@9000000 {
\t\t\tcompatible = "arm,pl011", "arm,primecell";
\t\t\treg = <0x0 0x9000000 0x0 0x1000>;
\t\t\tstatus = "okay";
\t\t};
\t};

\tdefault_pmpool {
\t\tcompatible = "pmpool-v1";
\t\tpage-size = <0x1000>;
\t\tpage-ranges = /bits/ 64 <0x100000000 0x200000 0x8000000000000000 0x100000>;
\t};
};
"""

RESERVATIONS = [(0x10000000, 0x100000), (0x20000000, 0x2000)]
POOL_RANGES = [(0x100000000, 0x200000), (0x8000000000000000, 0x100000)]
POOL: NodeSpec = (
    "default_pmpool",
    [("compatible", strs("pmpool-v1")), ("page-size", cells(0x1000)), ("page-ranges", u64s(*sum(POOL_RANGES, ())))],
    [],
)
SERIAL: NodeSpec = (
    "serial@9000000",
    [
        ("compatible", strs("arm,pl011", "arm,primecell")),
        ("reg", cells(0, 0x9000000, 0, 0x1000)),
        ("status", strs("okay")),
    ],
    [],
)
SOC: NodeSpec = (
    "soc",
    [("compatible", strs("simple-bus")), ("#address-cells", cells(2)), ("#size-cells", cells(2)), ("ranges", b"")],
    [SERIAL],
)
CHOSEN: NodeSpec = ("chosen", [("bootargs", strs("console=ttyS0 quiet"))], [])
MEMORY: NodeSpec = ("memory@40000000", [("device_type", strs("memory")), ("reg", cells(0, 0x40000000, 1, 0))], [])
ROOT_PROPS = [
    ("#address-cells", cells(2)),
    ("#size-cells", cells(2)),
    ("model", strs("pmpool test board")),
    ("compatible", strs("pmpool,test-board", "pmpool,test-soc")),
]
SMALL_TREE: NodeSpec = ("", ROOT_PROPS, [CHOSEN, MEMORY, SOC, POOL])
TOKENS = tokens_of(SMALL_TREE)
BASE = build(TOKENS)
SMALL = BASE.data
PROP_TAGS = BASE.prop_tags(TOKENS)


def index_of(predicate: Callable[[Token], bool], start: int = 0) -> int:
    """Index in TOKENS of the first token from `start` that satisfies `predicate`."""
    return next(i for i in range(start, len(TOKENS)) if predicate(TOKENS[i]))


def begin_index(name: str) -> int:
    return index_of(lambda t: isinstance(t, Begin) and t.name == name.encode())


def end_index_of(name: str) -> int:
    """Index of the FDT_END_NODE that closes the node `name`."""
    depth = 0
    for i in range(begin_index(name), len(TOKENS)):
        tok = TOKENS[i]
        if isinstance(tok, Begin):
            depth += 1
        elif isinstance(tok, EndNode):
            depth -= 1
            if depth == 0:
                return i
    raise AssertionError(name)


def with_tokens(edit: dict[int, Sequence[Token]], **build_args: Any) -> bytes:
    """The small blob with token i replaced by edit[i] (several tokens, or none)."""
    tokens: list[Token] = []
    for i, tok in enumerate(TOKENS):
        tokens.extend(edit.get(i, [tok]))
    return build(tokens, **build_args).data


def insert_before(index: int, *new: Token) -> bytes:
    return with_tokens({index: [*new, TOKENS[index]]})


ROOT_END = end_index_of("")
FDT_END_INDEX = len(TOKENS) - 1


# ---------------------------------------------------------------------------
# The oracle


def dump(path: Path, *args: str) -> tuple[Run, float]:
    start = time.perf_counter()
    run = run_cli(["dump", str(path), *args])
    return run, time.perf_counter() - start


# Kinds of problem `judge` reports.
OUTCOME = "outcome"  # a traceback, exit 70, a bad error line, a corrupt blob accepted, too slow
DTC_FATAL = "dtc-fatal"  # we read a blob that dtc cannot read at all
DTC_CHECKS = "dtc-checks"  # we read a blob whose tree dtc's checks refuse (dtc -f still reads it)
DIFFERENT_TREE = "different-tree"  # we read a different tree from the one dtc reads
DTS = "dts"  # `dump --dts` of a blob we read does not compile back to the same tree


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    problems: list[tuple[str, str]]  # (kind, message)

    def messages(self, *kinds: str) -> list[str]:
        return [f"{kind}: {message}" for kind, message in self.problems if not kinds or kind in kinds]


def judge(
    dtc: str,
    path: Path,
    data: bytes,
    *,
    must_fail: bool = False,
    allow_original: bool = False,
    accepted_variation: bool = False,
) -> Verdict:
    """Write `data` to `path`, dump it, and say what is wrong with the outcome.

    Exit 3 must be one `error:` line naming the file and, for a blob with a whole
    header, the byte offset. Exit 0 must be a tree dtc reads the same way (or,
    with `allow_original`, the original tree); dtc refusing it is a problem
    unless the blob is one of the documented `accepted_variation`s.
    """
    path.write_bytes(data)
    run, elapsed = dump(path)
    problems: list[tuple[str, str]] = []
    if elapsed > PER_CASE_SECONDS:
        problems.append((OUTCOME, f"dump took {elapsed:.2f} s"))
    if run.exit_code == 3:
        try:
            assert_input_error(run, path.name)
            line = run.stderr.strip()
            if len(data) >= HEADER_SIZE:
                assert "offset" in line, f"a structural fault without its offset: {line}"
            else:
                assert "too short" in line, line
        except AssertionError as exc:
            problems.append((OUTCOME, f"bad error report: {exc}"))
        return Verdict(run.exit_code, problems)
    if run.exit_code != 0:
        problems.append((OUTCOME, f"exit {run.exit_code}: {run.stderr.strip()}"))
        return Verdict(run.exit_code, problems)
    if run.stderr:
        problems.append((OUTCOME, f"exit 0 with stderr {run.stderr!r}"))
    if must_fail:
        problems.append((OUTCOME, "a corrupt blob was accepted"))
    ours = tree_of(data)
    reading = dtc_read(dtc, data)
    if reading.status == "fatal":
        if not accepted_variation:
            problems.append((DTC_FATAL, f"dtc cannot read a blob we accept: {reading.stderr}"))
        return Verdict(run.exit_code, problems)
    theirs = tree_of(reading.blob)
    if ours != theirs and not (allow_original and ours == ORIGINAL_TREE):
        problems.append((DIFFERENT_TREE, tree_difference(ours, theirs)))
    if reading.status == "checks":
        if not accepted_variation:
            problems.append((DTC_CHECKS, f"dtc refuses the tree of a blob we accept: {reading.stderr}"))
        return Verdict(run.exit_code, problems)
    source = run_cli(["dump", str(path), "--dts"])
    compiled = subprocess.run(
        [dtc, "-I", "dts", "-O", "dtb", "-"], input=source.stdout.encode(), capture_output=True, timeout=30, check=False
    )
    if source.exit_code != 0 or compiled.returncode != 0:
        problems.append((DTS, f"dump --dts does not compile: {compiled.stderr.decode(errors='replace')}"))
    elif tree_of(compiled.stdout) != ours:
        problems.append(
            (DTS, f"dump --dts compiles to another tree: {tree_difference(ours, tree_of(compiled.stdout))}")
        )
    return Verdict(run.exit_code, problems)


ORIGINAL_TREE = tree_of(SMALL)


def pool_json(run: Run) -> Any:
    assert run.exit_code == 0, run.stderr
    return json.loads(run.stdout)["pool"]


@pytest.fixture(scope="module")
def base_pool(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`dump --json`'s pool for the small blob as it is."""
    path = tmp_path_factory.mktemp("base") / "small.dtb"
    path.write_bytes(SMALL)
    pool = pool_json(run_cli(["dump", str(path), "--json"]))
    assert [(r["base"], r["size"]) for r in pool["ranges"]] == POOL_RANGES
    return pool


# ---------------------------------------------------------------------------
# The test blob itself


def test_builder_matches_dtc(dtc: str) -> None:
    """The writer lays blobs out byte for byte as dtc compiles SMALL_DTS, without a warning."""
    proc = subprocess.run(
        [dtc, "-I", "dts", "-O", "dtb", "-"], input=SMALL_DTS.encode(), capture_output=True, check=True
    )
    assert proc.stderr == b""
    assert proc.stdout == SMALL


def test_small_blob_reads(tmp_path: Path) -> None:
    path = tmp_path / "small.dtb"
    path.write_bytes(SMALL)
    document = json.loads(run_cli(["dump", str(path), "--json"]).stdout)
    assert document["reservations"] == [{"address": a, "size": s} for a, s in RESERVATIONS]
    assert [(r["base"], r["size"]) for r in document["pool"]["ranges"]] == POOL_RANGES
    assert document["pool"]["problems"] == []
    assert document["header"]["totalsize"] == len(SMALL)
    assert [path for path, _ in ORIGINAL_TREE.nodes] == [
        "/",
        "/chosen",
        "/memory@40000000",
        "/soc",
        "/soc/serial@9000000",
        "/default_pmpool",
    ]


# ---------------------------------------------------------------------------
# Truncation and header words


@pytest.mark.parametrize("length", range(len(SMALL)))
def test_truncated_at_every_offset(tmp_path: Path, length: int) -> None:
    path = tmp_path / "truncated.dtb"
    path.write_bytes(SMALL[:length])
    run, elapsed = dump(path)
    assert_input_error(run, "truncated.dtb", "offset" if length >= HEADER_SIZE else "too short")
    assert elapsed < PER_CASE_SECONDS


@pytest.mark.parametrize("value", [0, 1, 0xFFFFFFFF, 2 * len(SMALL)], ids=["0", "1", "ffffffff", "2xtotalsize"])
@pytest.mark.parametrize("field", HEADER_WORDS)
def test_header_word(dtc: str, tmp_path: Path, field: str, value: int) -> None:
    """Only boot_cpuid_phys and a last_comp_version no newer than 17 may take any of these values."""
    mutated = poke32(SMALL, OFFSET[field], value)
    harmless = field == "boot_cpuid_phys" or (field == "last_comp_version" and value <= 17)
    verdict = judge(dtc, tmp_path / "header.dtb", mutated, must_fail=not harmless, allow_original=True)
    assert verdict.messages() == []


def test_boot_cpuid_is_any_value(tmp_path: Path) -> None:
    path = tmp_path / "cpu.dtb"
    path.write_bytes(poke32(SMALL, OFFSET["boot_cpuid_phys"], 0xFFFFFFFF))
    run = run_cli(["dump", str(path), "--json"])
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["header"]["boot_cpuid_phys"] == 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Property name offsets and lengths


PROP_IDS = [f"{tok.name}@{at:#x}" for at, tok in PROP_TAGS]


@pytest.mark.parametrize(("at", "prop"), PROP_TAGS, ids=PROP_IDS)
@pytest.mark.parametrize(
    "nameoff",
    [BASE.size_dt_strings, BASE.size_dt_strings + 1, 0x7FFFFFFF, 0xFFFFFFFF],
    ids=["end", "end+1", "7fffffff", "ffffffff"],
)
def test_nameoff_outside_strings(dtc: str, tmp_path: Path, at: int, prop: Prop, nameoff: int) -> None:
    mutated = poke32(SMALL, at + 8, nameoff)
    assert judge(dtc, tmp_path / "nameoff.dtb", mutated, must_fail=True).messages() == []


@pytest.mark.parametrize(("at", "prop"), PROP_TAGS, ids=PROP_IDS)
def test_nameoff_last_byte_of_strings(dtc: str, tmp_path: Path, at: int, prop: Prop) -> None:
    """The last byte of the strings block is the final NUL: an empty name."""
    mutated = poke32(SMALL, at + 8, BASE.size_dt_strings - 1)
    assert judge(dtc, tmp_path / "nameoff.dtb", mutated, must_fail=True).messages() == []


@pytest.mark.parametrize(("at", "prop"), PROP_TAGS, ids=PROP_IDS)
def test_nameoff_not_nul_terminated(dtc: str, tmp_path: Path, at: int, prop: Prop) -> None:
    """size_dt_strings one short, so the last name loses its NUL; this property points at that name."""
    strings = SMALL[BASE.off_dt_strings :]
    last_name = strings.rindex(b"\0", 0, len(strings) - 1) + 1
    mutated = poke32(SMALL, OFFSET["size_dt_strings"], BASE.size_dt_strings - 1)
    mutated = poke32(mutated, at + 8, last_name)
    assert judge(dtc, tmp_path / "nameoff.dtb", mutated, must_fail=True).messages() == []
    # and at the very last byte of the shortened block, a name of one character without its NUL
    mutated = poke32(mutated, at + 8, BASE.size_dt_strings - 2)
    assert judge(dtc, tmp_path / "nameoff.dtb", mutated, must_fail=True).messages() == []


STRUCT_LIMIT = BASE.off_dt_strings


@pytest.mark.parametrize(("at", "prop"), PROP_TAGS, ids=PROP_IDS)
@pytest.mark.parametrize("length", [0x7FFFFFFF, 0xFFFFFFFF, None], ids=["7fffffff", "ffffffff", "one-past-struct"])
def test_huge_property_length(dtc: str, tmp_path: Path, at: int, prop: Prop, length: int | None) -> None:
    value_offset = at + 12
    if length is None:
        length = STRUCT_LIMIT - value_offset + 1
    mutated = poke32(SMALL, at + 4, length)
    assert judge(dtc, tmp_path / "length.dtb", mutated, must_fail=True).messages() == []


# ---------------------------------------------------------------------------
# Structural faults

SERIAL_END = end_index_of("serial@9000000")
SOC_PROP = index_of(lambda t: isinstance(t, Prop) and t.name == "ranges")
POOL_BEGIN = begin_index("default_pmpool")
CHOSEN_BEGIN = begin_index("chosen")


def _structural_cases() -> dict[str, bytes]:
    base = BASE
    cases: dict[str, bytes] = {
        "fdt-end-replaced-by-nop": with_tokens({FDT_END_INDEX: [Word(FDT_NOP)]}),
        "fdt-end-missing": with_tokens({FDT_END_INDEX: []}),
        "fdt-end-outside-size-dt-struct": poke32(
            SMALL, OFFSET["size_dt_struct"], word(SMALL, OFFSET["size_dt_struct"]) - 4
        ),
        "end-node-missing-inner": with_tokens({SERIAL_END: []}),
        "end-node-missing-root": with_tokens({ROOT_END: []}),
        "end-node-extra-inside": with_tokens({SERIAL_END: [EndNode(), EndNode()]}),
        "end-node-extra-after-root": with_tokens({ROOT_END: [EndNode(), EndNode()]}),
        "end-node-before-root": insert_before(0, EndNode()),
        "unknown-tag-0": insert_before(SOC_PROP, Word(0)),
        "unknown-tag-5": insert_before(SOC_PROP, Word(5)),
        "unknown-tag-ffffffff": insert_before(POOL_BEGIN, Word(0xFFFFFFFF)),
        "unknown-tag-as-root": with_tokens({0: [Word(0x8)]}),
        "fdt-end-inside-node": insert_before(POOL_BEGIN, Word(FDT_END)),
        "node-name-without-nul-at-end": with_tokens({FDT_END_INDEX: [Begin(b"abcd", terminated=False)]}),
        "node-name-without-nul-8": with_tokens({FDT_END_INDEX: [Begin(b"abcdefgh", terminated=False)]}),
        "property-after-subnode": insert_before(ROOT_END, Prop("late", cells(1))),
        "property-after-subnode-in-soc": insert_before(end_index_of("soc"), Prop("late", b"")),
        "property-outside-root": insert_before(FDT_END_INDEX, Prop("stray", cells(1))),
        "duplicate-node-name": insert_before(ROOT_END, *tokens_of(CHOSEN)[:-1]),
        "duplicate-pool-node": insert_before(ROOT_END, *tokens_of(POOL)[:-1]),
        "duplicate-property": insert_before(CHOSEN_BEGIN, Prop("model", strs("again"))),
        "second-root": insert_before(FDT_END_INDEX, Begin(b""), EndNode()),
        "empty-child-name": insert_before(ROOT_END, Begin(b""), EndNode()),
        "root-named-x": with_tokens({0: [Begin(b"x")]}),
        "reservations-without-terminator": build(TOKENS, terminator=(0x30000000, 0x1000)).data,
        "reservations-terminator-address-only": build(TOKENS, terminator=(0x30000000, 0)).data,
        "version-15": poke32(poke32(SMALL, OFFSET["version"], 15), OFFSET["last_comp_version"], 15),
        "version-15-last-comp-16": poke32(SMALL, OFFSET["version"], 15),
        "last-comp-version-18": poke32(SMALL, OFFSET["last_comp_version"], 18),
        "bad-magic": poke32(SMALL, 0, 0xD00DFEEE),
        "byte-swapped-magic": poke32(SMALL, 0, 0xEDFE0DD0),
        "empty-file": b"",
        "magic-only": SMALL[:4],
        "header-only": SMALL[:HEADER_SIZE],
        "random-bytes": random.Random(99).randbytes(len(SMALL)),
        "random-after-magic": SMALL[:8] + random.Random(98).randbytes(len(SMALL) - 8),
        "strings-overlap-structure": poke32(SMALL, OFFSET["off_dt_strings"], base.off_dt_strings - 8),
        "rsvmap-inside-structure": poke32(SMALL, OFFSET["off_mem_rsvmap"], base.off_dt_struct + 8),
        "struct-unaligned": poke32(SMALL, OFFSET["off_dt_struct"], base.off_dt_struct + 2),
        "size-dt-struct-unaligned": poke32(SMALL, OFFSET["size_dt_struct"], word(SMALL, OFFSET["size_dt_struct"]) + 2),
        "totalsize-short-by-one": poke32(SMALL, OFFSET["totalsize"], len(SMALL) - 1),
        "totalsize-below-header": poke32(SMALL, OFFSET["totalsize"], HEADER_SIZE - 4),
        "size-dt-strings-past-end": poke32(SMALL, OFFSET["size_dt_strings"], base.size_dt_strings + 1),
        "nop-before-root": insert_before(0, Word(FDT_NOP)),
        "nop-after-root": insert_before(FDT_END_INDEX, Word(FDT_NOP)),
    }
    # A reservation entry of size 0 in the middle: libfdt, dtc and the kernel stop at size 0.
    cases["reservation-size-0-mid-list"] = build(TOKENS, [RESERVATIONS[0], (0x5000, 0), RESERVATIONS[1]]).data
    return cases


STRUCTURAL = _structural_cases()
# These may be read (exit 0) if dtc reads them the same way; all the others are corrupt and must be refused.
MAY_READ = {
    "last-comp-version-18",
    "reservations-terminator-address-only",
    "reservation-size-0-mid-list",
    "nop-before-root",
    "nop-after-root",
}


@pytest.mark.parametrize("case", sorted(STRUCTURAL))
def test_structural_fault(dtc: str, tmp_path: Path, case: str) -> None:
    data = STRUCTURAL[case]
    assert judge(dtc, tmp_path / f"{case}.dtb", data, must_fail=case not in MAY_READ).messages() == []


NAMES_DTC_REFUSES = {
    "node-name-byte-80": with_tokens({CHOSEN_BEGIN: [Begin(b"cho\x80en")]}),
    "node-name-control": with_tokens({CHOSEN_BEGIN: [Begin(b"cho\x01en")]}),
    "node-name-slash": with_tokens({CHOSEN_BEGIN: [Begin(b"chosen/x")]}),
    "node-name-space": with_tokens({CHOSEN_BEGIN: [Begin(b"cho sen")]}),
    "node-name-two-at": with_tokens({begin_index("serial@9000000"): [Begin(b"serial@9000000@1")]}),
    "property-name-space": insert_before(CHOSEN_BEGIN, Prop("boot args", b"")),
    "property-name-del": insert_before(CHOSEN_BEGIN, Prop("bootargs\x7f", b"")),
    "property-name-latin1": insert_before(CHOSEN_BEGIN, Prop("boot\xe4rgs", b"")),
    # dtc's name_is_string and name_properties checks: a `name` must be the node's name, as a string.
    "name-property-not-a-string": insert_before(CHOSEN_BEGIN + 1, Prop("name", cells(1))),
    "name-property-other-name": insert_before(CHOSEN_BEGIN + 1, Prop("name", strs("other"))),
    "name-property-two-strings": insert_before(CHOSEN_BEGIN + 1, Prop("name", strs("chosen", "chosen"))),
    "name-property-unterminated": insert_before(CHOSEN_BEGIN + 1, Prop("name", b"chosen")),
    "name-property-with-unit-address": insert_before(
        begin_index("serial@9000000") + 1, Prop("name", strs("serial@9000000"))
    ),
}


@pytest.mark.parametrize("case", sorted(NAMES_DTC_REFUSES))
def test_name_characters(dtc: str, tmp_path: Path, case: str) -> None:
    """Names dtc's node_name_chars / property_name_chars / node_name_format checks refuse: refuse them, or agree."""
    assert judge(dtc, tmp_path / f"{case}.dtb", NAMES_DTC_REFUSES[case]).messages() == []


@pytest.mark.parametrize(
    ("where", "value"),
    [("chosen", "chosen"), ("serial@9000000", "serial"), ("", "")],
    ids=["chosen", "unit-address", "root"],
)
def test_a_redundant_name_property_is_dropped_as_dtc_drops_it(dtc: str, tmp_path: Path, where: str, value: str) -> None:
    """A `name` equal to the node's name without its unit address: dtc reads it and drops it; so do we."""
    data = insert_before(begin_index(where) + 1 if where else 1, Prop("name", strs(value)))
    assert judge(dtc, tmp_path / "named.dtb", data).messages() == []
    assert "name =" not in run_cli(["dump", str(tmp_path / "named.dtb"), "--dts"]).stdout


LONG_NAME = "n" * 300  # dtc sets no limit on a name's length; messages show 256 characters of one
OTHER_LONG_NAME = LONG_NAME + "x"  # alike in the first 256


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (insert_before(CHOSEN_BEGIN, Begin(LONG_NAME.encode()), EndNode()), [LONG_NAME]),
        (
            insert_before(
                CHOSEN_BEGIN, Begin(LONG_NAME.encode()), EndNode(), Begin(OTHER_LONG_NAME.encode()), EndNode()
            ),
            [LONG_NAME, OTHER_LONG_NAME],
        ),
        (
            insert_before(CHOSEN_BEGIN + 1, Prop(LONG_NAME, b""), Prop(OTHER_LONG_NAME, cells(1))),
            [LONG_NAME, OTHER_LONG_NAME],
        ),
    ],
    ids=["long-node-name", "long-node-names-alike-in-256-bytes", "long-property-names-alike-in-256-bytes"],
)
def test_long_names_are_read_whole(dtc: str, tmp_path: Path, data: bytes, names: list[str]) -> None:
    """A name past 256 bytes is read, compared with its siblings and written back whole: it was cut short
    to 256 and `...`, so dump --dts wrote another name, and two names alike in their first 256 bytes
    were refused as duplicates."""
    path = tmp_path / "long.dtb"
    assert judge(dtc, path, data).messages() == []
    dts = run_cli(["dump", str(path), "--dts"]).stdout
    assert [name for name in names if f"\t{name} " not in dts and f"\t\t{name}" not in dts] == []


def _relaid_out(strings_first: bool, gap: int) -> bytes:
    """The small blob with the strings block before the structure block, or `gap` free bytes between them."""
    header = bytearray(SMALL[:HEADER_SIZE])
    head = SMALL[: BASE.off_dt_struct]
    structure = SMALL[BASE.off_dt_struct : BASE.off_dt_strings]
    strings = SMALL[BASE.off_dt_strings :] + bytes(-BASE.size_dt_strings % 4)
    if strings_first:
        body = head[HEADER_SIZE:] + strings + bytes(gap) + structure
        struct.pack_into(">I", header, OFFSET["off_dt_strings"], len(head))
        struct.pack_into(">I", header, OFFSET["off_dt_struct"], len(head) + len(strings) + gap)
    else:
        body = head[HEADER_SIZE:] + structure + bytes(gap) + strings
        struct.pack_into(">I", header, OFFSET["off_dt_strings"], BASE.off_dt_strings + gap)
    struct.pack_into(">I", header, OFFSET["totalsize"], HEADER_SIZE + len(body))
    return bytes(header) + body


@pytest.mark.parametrize(
    "data",
    [_relaid_out(True, 0), _relaid_out(True, 12), _relaid_out(False, 64)],
    ids=["strings-first", "strings-first-gap", "gap-before-strings"],
)
def test_other_block_layouts_read_and_edit(dtc: str, tmp_path: Path, data: bytes) -> None:
    """Blocks in another order or with free space between them: read like dtc, and editable."""
    path = tmp_path / "layout.dtb"
    assert judge(dtc, path, data, accepted_variation=True).messages() == []
    assert tree_of(data) == ORIGINAL_TREE
    run = run_cli(["add-range", str(path), "0x200000000", "1M"])
    assert run.exit_code == 0, run.stderr
    edited = tree_of(path.read_bytes())
    assert edited.nodes[:-1] == ORIGINAL_TREE.nodes[:-1]
    assert edited.reservations == RESERVATIONS
    assert judge(dtc, tmp_path / "edited.dtb", path.read_bytes()).messages() == []


def test_nameoff_inside_a_string_is_a_suffix_name(dtc: str, tmp_path: Path) -> None:
    """dtc itself shares string tails; a name offset into the middle of a string names its tail."""
    at = next(at for at, p in PROP_TAGS if p.name == "bootargs")
    tail = SMALL.index(b"size-cells\0", BASE.off_dt_strings) - BASE.off_dt_strings
    data = poke32(SMALL, at + 8, tail)
    assert judge(dtc, tmp_path / "tail.dtb", data).messages() == []
    assert dict(tree_of(data).nodes)["/chosen"] == [("size-cells", strs("console=ttyS0 quiet"))]


def test_deep_nesting_is_refused_quickly(tmp_path: Path) -> None:
    depth = 5000
    tokens: list[Token] = [Begin(b""), *[Begin(b"n") for _ in range(depth)], *[EndNode() for _ in range(depth + 1)]]
    path = tmp_path / "deep.dtb"
    path.write_bytes(build([*tokens, Word(FDT_END)]).data)
    run, elapsed = dump(path)
    assert_input_error(run, "deep.dtb", "offset", "deeper")
    assert elapsed < PER_CASE_SECONDS


def test_many_siblings_read_quickly(tmp_path: Path, base_pool: Any) -> None:
    """The fdt package is quadratic in siblings; the reader must not be."""
    count = 20000
    children = [token for i in range(count) for token in (Begin(f"n{i}".encode()), Prop("reg", cells(i)), EndNode())]
    data = build([Begin(b""), *children, *tokens_of(POOL)[:-1], EndNode(), Word(FDT_END)]).data
    path = tmp_path / "wide.dtb"
    path.write_bytes(data)
    run, elapsed = dump(path, "--json")
    assert elapsed < PER_CASE_SECONDS
    assert pool_json(run) == base_pool
    assert len(tree_of(data).nodes) == count + 2


def test_version_18_is_refused_or_read_like_dtc(dtc: str, tmp_path: Path) -> None:
    """A version 18 blob that says it is compatible with 16: refusing it is safe, misreading it is not."""
    mutated = poke32(SMALL, OFFSET["version"], 18)
    assert judge(dtc, tmp_path / "v18.dtb", mutated).messages() == []


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "adir.dtb").mkdir()
    assert_input_error(run_cli(["dump", str(tmp_path / "adir.dtb")]), "adir.dtb")


def test_missing_file(tmp_path: Path) -> None:
    assert_input_error(run_cli(["dump", str(tmp_path / "missing.dtb")]), "missing.dtb")


# ---------------------------------------------------------------------------
# Accepted variations


def _nop_positions() -> list[int]:
    """Token indexes a NOP may go before: anywhere inside the root node, after its FDT_BEGIN_NODE."""
    return list(range(1, ROOT_END + 1))


@pytest.mark.parametrize("before", _nop_positions())
def test_nop_between_tokens(dtc: str, tmp_path: Path, before: int, base_pool: Any) -> None:
    data = insert_before(before, Word(FDT_NOP))
    path = tmp_path / "nop.dtb"
    assert judge(dtc, path, data, accepted_variation=True).messages() == []
    assert tree_of(data) == ORIGINAL_TREE
    assert pool_json(run_cli(["dump", str(path), "--json"])) == base_pool


def test_nops_everywhere(dtc: str, tmp_path: Path, base_pool: Any) -> None:
    data = with_tokens({i: [Word(FDT_NOP), Word(FDT_NOP), TOKENS[i]] for i in _nop_positions()})
    path = tmp_path / "nops.dtb"
    assert judge(dtc, path, data, accepted_variation=True).messages() == []
    assert tree_of(data) == ORIGINAL_TREE
    assert pool_json(run_cli(["dump", str(path), "--json"])) == base_pool
    # the same DTS as the blob without NOPs
    clean = tmp_path / "clean.dtb"
    clean.write_bytes(SMALL)
    assert run_cli(["dump", str(path), "--dts"]).stdout == run_cli(["dump", str(clean), "--dts"]).stdout


def test_version_16_from_v17(dtc: str, tmp_path: Path, base_pool: Any) -> None:
    data = poke32(poke32(SMALL, OFFSET["version"], 16), OFFSET["last_comp_version"], 16)
    path = tmp_path / "v16.dtb"
    assert judge(dtc, path, data, accepted_variation=True).messages() == []
    document = json.loads(run_cli(["dump", str(path), "--json"]).stdout)
    assert (document["header"]["version"], document["header"]["last_comp_version"]) == (16, 16)
    assert document["header"]["size_dt_struct"] == word(SMALL, OFFSET["size_dt_struct"])
    assert document["pool"] == base_pool
    assert tree_of(data) == ORIGINAL_TREE


def test_version_16_size_dt_struct_word_is_not_read(dtc: str, tmp_path: Path) -> None:
    """Bytes 36..39 are not a header word in version 16; garbage there changes nothing."""
    data = poke32(poke32(SMALL, OFFSET["version"], 16), OFFSET["last_comp_version"], 16)
    data = poke32(data, OFFSET["size_dt_struct"], 0xFFFFFFFF)
    assert judge(dtc, tmp_path / "v16.dtb", data, accepted_variation=True).messages() == []
    assert tree_of(data) == ORIGINAL_TREE


def test_version_16_from_dtc(dtc: str, tmp_path: Path, base_pool: Any) -> None:
    proc = subprocess.run(
        [dtc, "-I", "dtb", "-O", "dtb", "-V", "16", "-"], input=SMALL, capture_output=True, check=True
    )
    data = proc.stdout
    assert word(data, OFFSET["version"]) == 16
    path = tmp_path / "v16.dtb"
    assert judge(dtc, path, data, accepted_variation=True).messages() == []
    assert pool_json(run_cli(["dump", str(path), "--json"])) == base_pool
    assert tree_of(data) == ORIGINAL_TREE


@pytest.mark.parametrize(
    "trailer",
    [b"\0", b"\xff" * 3, random.Random(7).randbytes(4096), SMALL, b"\xd0\x0d\xfe\xed" + bytes(60)],
    ids=["nul", "ff", "random-4k", "second-blob", "magic"],
)
def test_trailing_bytes_are_ignored(dtc: str, tmp_path: Path, trailer: bytes) -> None:
    path = tmp_path / "long.dtb"
    clean = tmp_path / "clean.dtb"
    clean.write_bytes(SMALL)
    assert judge(dtc, path, SMALL + trailer, accepted_variation=True).messages() == []
    ours = json.loads(run_cli(["dump", str(path), "--json"]).stdout)
    expected = json.loads(run_cli(["dump", str(clean), "--json"]).stdout)
    ours.pop("file")
    expected.pop("file")
    assert ours == expected


# ---------------------------------------------------------------------------
# The seeded mutation loop


def _mutations(count: int) -> list[tuple[str, bytes]]:
    rng = random.Random(1234)
    out: list[tuple[str, bytes]] = []
    interesting = [0, 1, 2, 3, 4, 9, 0xFFFFFFFF, 0x7FFFFFFF, len(SMALL), BASE.size_dt_strings, BASE.off_dt_strings]
    for _ in range(count):
        kind = rng.choice(["flip", "poke", "truncate"])
        if kind == "flip":
            at, mask = rng.randrange(len(SMALL)), rng.randrange(1, 256)
            mutated = bytearray(SMALL)
            mutated[at] ^= mask
            out.append((f"flip byte {at:#x} ^ {mask:#04x}", bytes(mutated)))
        elif kind == "poke":
            at = 4 * rng.randrange(len(SMALL) // 4)
            value = rng.choice([*interesting, rng.getrandbits(32), word(SMALL, at) + rng.choice([-4, -1, 1, 4])])
            value &= 0xFFFFFFFF
            out.append((f"word {at:#x} = {value:#x}", poke32(SMALL, at, value)))
        else:
            length = rng.randrange(len(SMALL))
            out.append((f"truncate to {length}", SMALL[:length]))
    return out


@functools.cache
def _mutation_verdicts(dtc: str) -> list[tuple[str, Verdict]]:
    """Each seeded mutation judged once, shared by the tests below."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mutated.dtb"
        return [(description, judge(dtc, path, data, allow_original=True)) for description, data in _mutations(300)]


def test_seeded_mutations_are_refused_or_read_as_dtc_reads_them(dtc: str) -> None:
    """300 single-byte flips, word pokes and truncations: exit 3 with a good error line, or dtc's tree."""
    verdicts = _mutation_verdicts(dtc)
    failures = [
        f"{description}: {message}"
        for description, verdict in verdicts
        for message in verdict.messages(OUTCOME, DTC_FATAL, DIFFERENT_TREE)
    ]
    assert failures == []
    codes = [verdict.exit_code for _, verdict in verdicts]
    assert set(codes) == {0, 3}  # the loop exercised both outcomes
    assert codes.count(3) > codes.count(0)


def test_seeded_mutations_we_read_dtc_reads_without_errors(dtc: str) -> None:
    """No mutation we read is a tree that dtc's checks refuse (names with bad characters, mostly)."""
    failures = [
        f"{description}: {message}"
        for description, verdict in _mutation_verdicts(dtc)
        for message in verdict.messages(DTC_CHECKS)
    ]
    assert failures == []


def test_seeded_mutations_dump_dts_compiles_back(dtc: str) -> None:
    """`dump --dts` of every mutation we read (and dtc reads cleanly) compiles to the same tree."""
    failures = [
        f"{description}: {message}"
        for description, verdict in _mutation_verdicts(dtc)
        for message in verdict.messages(DTS)
    ]
    assert failures == []


# ---------------------------------------------------------------------------
# Edits refuse corrupt blobs and leave them alone


@pytest.mark.parametrize(
    "case",
    [
        "fdt-end-replaced-by-nop",
        "end-node-missing-inner",
        "property-after-subnode",
        "duplicate-pool-node",
        "reservations-without-terminator",
    ],
)
def test_add_range_on_corrupt_blob(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.dtb"
    data = STRUCTURAL[case]
    path.write_bytes(data)
    run = run_cli(["add-range", str(path), "0x200000000", "1M"])
    assert_input_error(run, path.name, "offset")
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [path.name]


@pytest.mark.parametrize(
    "data",
    [SMALL[:-1], poke32(SMALL, PROP_TAGS[-1][0] + 8, 0xFFFFFFFF), poke32(SMALL, PROP_TAGS[-1][0] + 4, 0xFFFFFFFF)],
    ids=["truncated", "pool-nameoff", "pool-length"],
)
def test_remove_range_on_corrupt_blob(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "corrupt.dtb"
    path.write_bytes(data)
    run = run_cli(["remove-range", str(path), "0x100000000", "1M"])
    assert_input_error(run, "corrupt.dtb", "offset")
    assert path.read_bytes() == data


def test_add_range_on_blob_with_nops(dtc: str, tmp_path: Path) -> None:
    """NOPs outside the pool stay where they were; the edited tree is the original with one more range."""
    tokens: list[Token] = []
    for i, tok in enumerate(TOKENS):
        tokens.extend([Word(FDT_NOP), tok] if i in _nop_positions() else [tok])
    built = build(tokens)
    data = built.data
    pool_begin = built.token_offsets[tokens.index(Begin(b"default_pmpool"))]
    path = tmp_path / "nops.dtb"
    path.write_bytes(data)
    run = run_cli(["add-range", str(path), "0x200000000", "1M"])
    assert run.exit_code == 0, run.stderr
    edited = path.read_bytes()
    assert edited[HEADER_SIZE:pool_begin] == data[HEADER_SIZE:pool_begin]
    expected_ranges = [POOL_RANGES[0], (0x200000000, 0x100000), POOL_RANGES[1]]
    pool: NodeSpec = (POOL[0], [*POOL[1][:2], ("page-ranges", u64s(*sum(expected_ranges, ())))], [])
    assert tree_of(edited) == tree_of(build(tokens_of(("", ROOT_PROPS, [CHOSEN, MEMORY, SOC, pool]))).data)
    assert judge(dtc, tmp_path / "edited.dtb", edited, accepted_variation=True).messages() == []
