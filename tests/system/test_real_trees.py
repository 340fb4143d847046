"""Edits of real QEMU trees, with dtc as the oracle: the pool changes and nothing else does.

Each source tree goes through one chain of edits (create --from, several
add-range, a splitting remove-range, removing everything); every blob written
along the way is checked against the source: dtc reads it with the same
warnings, its DTS is the source's plus the pool block, the bytes in front of the
structure block and the strings block are kept, `dump --json` shows the
expected canonical ranges, and `dump --dts` compiles back to the same tree.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pmpoolctl.dtb.format import HEADER_FIELDS, HEADER_OFFSET
from tests.conftest import DATA, QEMU_TREES, _find_dtc, dtc_decompile, run_cli

ARM64 = "qemu-virt-arm64.dtb"
V16 = "arm64-v16 (dtc -V 16)"
MEMRESERVE = "arm64-memreserve (compiled DTS)"
SOURCES = (*QEMU_TREES, V16, MEMRESERVE)
MEMRESERVE_ENTRY = (0x10000000, 0x100000)

HEADER_WORDS = HEADER_FIELDS
OFFSET = HEADER_OFFSET
M = 1 << 20
TOP = 1 << 64

# The pool block in dtc's DTS output: a blank line, then the node at depth 1 and its lines.
POOL_BLOCK = re.compile(r"\n\tdefault_pmpool \{\n(?:\t\t[^\n]*\n)*\t\};\n")


@pytest.fixture(scope="module")
def dtc_path() -> str:
    return _find_dtc()


def header(data: bytes) -> dict[str, int]:
    return dict(zip(HEADER_WORDS, struct.unpack_from(">10I", data)))


def strings_block(data: bytes) -> bytes:
    h = header(data)
    return data[h["off_dt_strings"] : h["off_dt_strings"] + h["size_dt_strings"]]


def structure_block(data: bytes) -> bytes:
    """The structure block up to and including FDT_END (version 16 has no size word)."""
    h = header(data)
    if h["version"] >= 17:
        return data[h["off_dt_struct"] : h["off_dt_struct"] + h["size_dt_struct"]]
    end = data.index(struct.pack(">II", 2, 9), h["off_dt_struct"])  # the root's END_NODE, then FDT_END
    while (end - h["off_dt_struct"]) % 4:
        end = data.index(struct.pack(">II", 2, 9), end + 1)
    return data[h["off_dt_struct"] : end + 8]


def warning_lines(stderr: str) -> list[str]:
    """dtc's warnings without the file name and source position in front."""
    return [re.sub(r"^.*?: (?=(Warning|ERROR) \()", "", line) for line in stderr.splitlines() if line.strip()]


def dtc_compile(dtc: str, source: str) -> tuple[bytes, str]:
    proc = subprocess.run([dtc, "-I", "dts", "-O", "dtb", "-"], input=source.encode(), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout, proc.stderr.decode()


def make_source(name: str, dtc: str, directory: Path) -> Path:
    """The source tree `name` as a file in `directory` (the QEMU trees are copied, never edited in place)."""
    path = directory / "source.dtb"
    if name in QEMU_TREES:
        shutil.copyfile(DATA / name, path)
    elif name == V16:
        proc = subprocess.run(
            [dtc, "-I", "dtb", "-O", "dtb", "-V", "16", str(DATA / ARM64)], capture_output=True, check=True
        )
        path.write_bytes(proc.stdout)
    else:
        source, _ = dtc_decompile(dtc, DATA / ARM64)
        assert source.startswith("/dts-v1/;\n")
        address, size = MEMRESERVE_ENTRY
        source = source.replace("/dts-v1/;\n", f"/dts-v1/;\n/memreserve/ {address:#x} {size:#x};\n", 1)
        path.write_bytes(dtc_compile(dtc, source)[0])
    return path


@dataclass(frozen=True)
class Step:
    command: list[str]
    data: bytes  # the file after the command
    ranges: list[tuple[int, int]]  # the canonical pool it must hold


@dataclass(frozen=True)
class Chain:
    name: str
    source: bytes
    steps: list[Step]


def run_chain(name: str, dtc: str, directory: Path) -> Chain:
    source_path = make_source(name, dtc, directory)
    source = source_path.read_bytes()
    out = directory / "out.dtb"
    batch = directory / "batch.txt"
    batch.write_text("# two more ranges\n0x200000000 64M\n0xfffffffffff00000 1M  # ends at 2^64\n")
    everything = directory / "everything.txt"
    everything.write_text(f"0x100000000 1M\n0x100200000 2M\n0x200000000 64M\n{2**63:#x} 1M\n{TOP - M:#x} 1M\n")
    o = str(out)
    plan: list[tuple[list[str], list[tuple[int, int]]]] = [
        (["create", o, "--from", str(source_path)], []),
        (["add-range", o, "0x100000000", "2M"], [(0x100000000, 2 * M)]),
        (["add-range", o, "0x8000000000000000", "1M"], [(0x100000000, 2 * M), (2**63, M)]),
        (
            ["add-range", o, "--from", str(batch)],
            [(0x100000000, 2 * M), (0x200000000, 64 * M), (2**63, M), (TOP - M, M)],
        ),
        (  # adjacent: merged into the first range
            ["add-range", o, "0x100200000", "1M"],
            [(0x100000000, 3 * M), (0x200000000, 64 * M), (2**63, M), (TOP - M, M)],
        ),
        (  # the middle of the first range: split
            ["remove-range", o, "0x100100000", "1M"],
            [(0x100000000, M), (0x100200000, M), (0x200000000, 64 * M), (2**63, M), (TOP - M, M)],
        ),
        (
            ["add-range", o, "0x100300000", "1M"],
            [(0x100000000, M), (0x100200000, 2 * M), (0x200000000, 64 * M), (2**63, M), (TOP - M, M)],
        ),
        (["remove-range", o, "--from", str(everything)], []),
    ]
    steps: list[Step] = []
    for command, ranges in plan:
        run = run_cli(command)
        assert run.exit_code == 0, (command, run.stdout, run.stderr)
        assert run.stderr == ""
        steps.append(Step(command, out.read_bytes(), ranges))
    assert source_path.read_bytes() == source  # --from only reads
    return Chain(name, source, steps)


@pytest.fixture(scope="module", params=SOURCES)
def chain(request: pytest.FixtureRequest, dtc_path: str, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    name: str = request.param
    return run_chain(name, dtc_path, tmp_path_factory.mktemp("chain"))


def source_view(chain: Chain) -> bytes:
    """The source blob as the tool sees it: totalsize bytes (qemu-virt-riscv64's file is longer)."""
    return chain.source[: header(chain.source)["totalsize"]]


def each_step(chain: Chain) -> list[tuple[str, Step]]:
    return [(" ".join(step.command[:1] + step.command[2:]), step) for step in chain.steps]


# ---------------------------------------------------------------------------
# dtc reads every written blob as the source plus the pool


def test_dtc_reads_written_blobs_with_the_same_warnings(chain: Chain, dtc_path: str) -> None:
    _, source_warnings = dtc_decompile(dtc_path, chain.source)
    for label, step in each_step(chain):
        _, warnings = dtc_decompile(dtc_path, step.data)
        assert warnings == source_warnings, label


def test_written_dts_is_the_source_dts_plus_the_pool(chain: Chain, dtc_path: str) -> None:
    source_dts, _ = dtc_decompile(dtc_path, chain.source)
    assert "default_pmpool" not in source_dts
    for label, step in each_step(chain):
        dts, _ = dtc_decompile(dtc_path, step.data)
        blocks = POOL_BLOCK.findall(dts)
        assert len(blocks) == 1, (label, dts[-2000:])
        assert blocks[0].startswith('\n\tdefault_pmpool {\n\t\tcompatible = "pmpool-v1";\n\t\tpage-size = <0x1000>;\n')
        assert POOL_BLOCK.sub("", dts) == source_dts, label
        # the pool is the root's last child: its block ends the tree
        assert dts.endswith(blocks[0] + "};\n"), label


def test_page_ranges_in_dtc_output(chain: Chain, dtc_path: str) -> None:
    """dtc shows page-ranges as 32-bit cells: the u64 pairs, high word first."""
    for label, step in each_step(chain):
        dts, _ = dtc_decompile(dtc_path, step.data)
        (block,) = POOL_BLOCK.findall(dts)
        if step.ranges:
            words = [w for base, size in step.ranges for v in (base, size) for w in (v >> 32, v & 0xFFFFFFFF)]
            cells = " ".join(f"0x{w:02x}" for w in words)  # dtc's format: at least two digits
            assert f"\t\tpage-ranges = <{cells}>;\n" in block, (label, block)
        else:
            assert "\t\tpage-ranges;\n" in block, (label, block)


# ---------------------------------------------------------------------------
# Bytes kept


def test_header_words_kept(chain: Chain) -> None:
    before = header(chain.source)
    for label, step in each_step(chain):
        after = header(step.data)
        for word in ("magic", "version", "last_comp_version", "boot_cpuid_phys", "off_mem_rsvmap", "off_dt_struct"):
            assert after[word] == before[word], (label, word)
        assert len(step.data) == after["totalsize"], label  # the file is the blob, nothing after it
        if chain.name == ARM64:
            assert after["totalsize"] == 1048576, label  # the pool fits in the free space
        else:
            assert after["totalsize"] >= after["off_dt_strings"] + after["size_dt_strings"], label


def test_bytes_before_the_structure_block_kept(chain: Chain) -> None:
    """Header (but the words an edit must change), padding and reservation block: byte for byte."""
    source = chain.source
    before = header(source)
    changed = ["totalsize", "off_dt_strings", "size_dt_strings"]
    if before["version"] >= 17:
        changed.append("size_dt_struct")  # in version 16 those 4 bytes are not a header word: kept too

    def masked(data: bytes) -> bytes:
        out = bytearray(data[: before["off_dt_struct"]])
        for word in changed:
            out[OFFSET[word] : OFFSET[word] + 4] = b"MASK"
        return bytes(out)

    for label, step in each_step(chain):
        assert masked(step.data) == masked(source), label


def test_reservations_kept(chain: Chain, tmp_path: Path) -> None:
    source = tmp_path / "source.dtb"
    source.write_bytes(chain.source)
    expected = json.loads(run_cli(["dump", str(source), "--json"]).stdout)["reservations"]
    if chain.name == MEMRESERVE:
        assert expected == [{"address": MEMRESERVE_ENTRY[0], "size": MEMRESERVE_ENTRY[1]}]
    for label, step in each_step(chain):
        written = tmp_path / "written.dtb"
        written.write_bytes(step.data)
        assert json.loads(run_cli(["dump", str(written), "--json"]).stdout)["reservations"] == expected, label


def test_strings_block_only_grows(chain: Chain) -> None:
    original = strings_block(source_view(chain))
    for label, step in each_step(chain):
        strings = strings_block(step.data)
        assert strings.startswith(original), label
        assert set(strings[len(original) :].split(b"\0")) <= {b"", b"page-size", b"page-ranges", b"compatible"}, label


def test_structure_block_is_spliced(chain: Chain) -> None:
    """The pool node goes in before the root's FDT_END_NODE; every other structure byte stays."""
    original = structure_block(source_view(chain))
    tail = struct.pack(">II", 2, 9)  # the root's FDT_END_NODE and FDT_END
    assert original.endswith(tail)
    for label, step in each_step(chain):
        written = structure_block(step.data)
        assert written.startswith(original[:-8]), label
        assert written.endswith(tail), label
        pool = written[len(original) - 8 : -8]
        assert pool.startswith(struct.pack(">I", 1) + b"default_pmpool\0"), label
        assert pool.endswith(struct.pack(">I", 2)), label


# ---------------------------------------------------------------------------
# The pool as dump shows it


def test_dump_json_shows_the_canonical_ranges(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "written.dtb"
    for label, step in each_step(chain):
        path.write_bytes(step.data)
        run = run_cli(["dump", str(path), "--json"])
        assert run.exit_code == 0, run.stderr
        pool: Any = json.loads(run.stdout)["pool"]
        assert pool["path"] == "/default_pmpool", label
        assert pool["compatible"] == "pmpool-v1", label
        assert pool["page_size"] == 4096, label
        assert [(r["base"], r["size"]) for r in pool["ranges"]] == step.ranges, label
        assert [r["end"] for r in pool["ranges"]] == [b + s for b, s in step.ranges], label
        assert pool["total_bytes"] == sum(s for _, s in step.ranges), label
        assert pool["problems"] == [], label
        assert pool["other_properties"] == [], label


def test_removing_everything_leaves_an_empty_pool(chain: Chain, dtc_path: str) -> None:
    last = chain.steps[-1]
    assert last.command[0] == "remove-range" and last.ranges == []
    dts, _ = dtc_decompile(dtc_path, last.data)
    (block,) = POOL_BLOCK.findall(dts)
    assert (
        block
        == '\n\tdefault_pmpool {\n\t\tcompatible = "pmpool-v1";\n\t\tpage-size = <0x1000>;\n\t\tpage-ranges;\n\t};\n'
    )


def test_dump_dts_compiles_back_to_the_same_tree(chain: Chain, dtc_path: str, tmp_path: Path) -> None:
    """`dump --dts` compiles to the blob's tree, with the warnings dtc's own DTS of the blob compiles with.

    Compiling DTS warns where reading a blob does not (a `clocks` cell written as a
    number is "not a phandle reference"), so the baseline is dtc's own DTS of the
    source tree, compiled: the pool must add no warning to it, and neither may our DTS.
    """
    source_dts, _ = dtc_decompile(dtc_path, chain.source)
    _, baseline = dtc_compile(dtc_path, source_dts)
    path = tmp_path / "written.dtb"
    for label, step in each_step(chain):
        dts, _ = dtc_decompile(dtc_path, step.data)
        _, dtc_own = dtc_compile(dtc_path, dts)
        assert warning_lines(dtc_own) == warning_lines(baseline), label
        path.write_bytes(step.data)
        run = run_cli(["dump", str(path), "--dts"])
        assert run.exit_code == 0, run.stderr
        compiled, warnings = dtc_compile(dtc_path, run.stdout)
        assert warning_lines(warnings) == warning_lines(baseline), label
        assert dtc_decompile(dtc_path, compiled)[0] == dts, label


# ---------------------------------------------------------------------------
# Trees of a particular kind


@pytest.mark.parametrize("chain", [V16], indirect=True)
def test_version_16_stays_16(chain: Chain) -> None:
    assert (header(chain.source)["version"], header(chain.source)["last_comp_version"]) == (16, 16)
    for label, step in each_step(chain):
        assert (header(step.data)["version"], header(step.data)["last_comp_version"]) == (16, 16), label


@pytest.mark.parametrize("chain", [MEMRESERVE], indirect=True)
def test_memreserve_entries_kept_in_dts(chain: Chain, dtc_path: str) -> None:
    for label, step in each_step(chain):
        dts, _ = dtc_decompile(dtc_path, step.data)
        assert dts.startswith("/dts-v1/;\n\n/memreserve/\t0x0000000010000000 0x0000000000100000;\n"), (label, dts[:200])


def test_riscv_file_longer_than_its_blob(tmp_path: Path) -> None:
    """qemu-virt-riscv64.dtb is a 1 MiB dump buffer holding a 5 KiB blob: only the blob is read and written."""
    source = (DATA / "qemu-virt-riscv64.dtb").read_bytes()
    totalsize = header(source)["totalsize"]
    assert len(source) == 1048576 and totalsize < 8192
    path = tmp_path / "riscv.dtb"
    path.write_bytes(source)
    run = run_cli(["dump", str(path), "--json"])
    assert json.loads(run.stdout)["header"]["totalsize"] == totalsize
    out = tmp_path / "out.dtb"
    assert run_cli(["create", str(out), "--from", str(path), "--range", "0x100000000", "2M"]).exit_code == 0
    assert path.read_bytes() == source  # --from never touches its input
    written = out.read_bytes()
    assert len(written) == header(written)["totalsize"] < 8192
