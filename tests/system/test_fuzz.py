"""The seeded mutation fuzzer in the normal test run, and the cases it found, kept as regression tests.

`make test` runs CASES_PER_BLOB cases of SEED on every corpus blob (real
QEMU trees with pools added by dtc, and the examples); `make fuzz` runs tens of
thousands (tools/fuzz_campaign.py). What each case must satisfy is in
tests/fuzzing.py. A failure names its seed and case: replay it with
`python -m tools.fuzz_campaign --seed SEED --replay CASE`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import Run, run_cli
from tests.helpers import fuzzing
from tests.helpers.fuzzing import (
    CORPUS_NAMES,
    MUTATORS,
    Sample,
    check,
    failure_lines,
    mutate,
    outcome_counts,
    run_case,
    sample_named,
)
from tests.helpers.oracle import FDT_PROP, word

SEED = 0
CASES_PER_BLOB = 60  # six blobs: 360 cases


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_mutations_are_refused_or_read_as_dtc_reads_them(dtc: str, tmp_path: Path, name: str) -> None:
    """Every case: success or one `error:` line, no misread, edits all-or-nothing, no command over 2 s."""
    index = CORPUS_NAMES.index(name)
    cases = [index + len(CORPUS_NAMES) * n for n in range(CASES_PER_BLOB)]
    results = [run_case(dtc, SEED, case, tmp_path) for case in cases]
    assert {r.mutant.sample for r in results} == {name}
    failures = failure_lines(results)
    assert not failures, "\n".join(failures)
    counts = outcome_counts(results)
    assert counts.get("refused", 0) > 0 and counts.get("accepted-same-as-dtc", 0) > 0, counts
    assert counts.get("edited", 0) > 0, counts


def test_cases_are_reproducible(dtc: str) -> None:
    """Case N of seed S is the same bytes and description every time (a failure can be replayed)."""
    first = [mutate(dtc, 7, case) for case in range(200)]
    assert [mutate(dtc, 7, case) for case in range(200)] == first
    assert len({m.data for m in first}) > 150
    assert {m.kind for m in first} == {*MUTATORS, "combo"}


def test_the_checks_catch_a_hang_an_internal_error_and_a_refused_edit_that_writes(
    dtc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness itself: the watchdog ends a hang, and broken contracts are reported, not missed."""
    blob = sample_named(dtc, "example-pool").data
    truncated = blob[:-1]

    def hangs(args: Sequence[str], stdin: bytes | None = None) -> Run:
        time.sleep(30)
        raise AssertionError("the watchdog did not fire")

    monkeypatch.setattr(fuzzing, "WATCHDOG_SECONDS", 0.2)
    monkeypatch.setattr(fuzzing, "run_cli", hangs)
    start = time.perf_counter()
    assert [f.split(":")[0] for f in check(blob, tmp_path, dtc).failures] == ["hang"]
    assert time.perf_counter() - start < 5
    monkeypatch.undo()

    def internal_error(args: Sequence[str], stdin: bytes | None = None) -> Run:
        return Run(70, "", "error: internal error: KeyError: 'x' (a bug in pmpoolctl)\n")

    monkeypatch.setattr(fuzzing, "run_cli", internal_error)
    assert [f.split(":")[0] for f in check(truncated, tmp_path, dtc).failures] == ["exit-code"]

    def writes_anyway(args: Sequence[str], stdin: bytes | None = None) -> Run:
        run = run_cli(args, stdin)
        if args[0] == "add-range":
            Path(args[1]).write_bytes(b"scribbled")
        return run

    monkeypatch.setattr(fuzzing, "run_cli", writes_anyway)
    assert [f.split(":")[0] for f in check(truncated, tmp_path, dtc).failures] == ["wrote-refused"]


# ---------------------------------------------------------------------------
# Cases the fuzzer found, as explicit patches of corpus blobs (stable when the mutators change)


def _patched(sample: Sample, *patches: tuple[int, bytes]) -> bytes:
    data = bytearray(sample.data)
    for at, new in patches:
        data[at : at + len(new)] = new
    return bytes(data)


def _string(sample: Sample, name: bytes) -> int:
    """Offset of the property name `name` in the strings block."""
    start = sample.header["off_dt_strings"]
    return sample.data.index(name + b"\0", start)


def _node_name(sample: Sample, name: bytes) -> int:
    """Offset of the first node name `name` in the structure block."""
    return sample.data.index(struct.pack(">I", 1) + name + b"\0", sample.struct_start) + 4


def _values(sample: Sample, prop: str) -> list[int]:
    """Value offsets of every property called `prop`."""
    strings = sample.header["off_dt_strings"]
    out = []
    for token in sample.tokens:
        if token.tag == FDT_PROP:
            nameoff = strings + word(sample.data, token.offset + 8)
            if sample.data[nameoff : sample.data.index(b"\0", nameoff)] == prop.encode():
                out.append(token.offset + 12)
    return out


def _pool_value(sample: Sample, prop: str) -> int:
    return next(at for name, at, _ in sample.pool_props if name == prop)


def _regressions(dtc: str) -> dict[str, bytes]:
    pool = sample_named(dtc, "example-pool")
    arm64 = sample_named(dtc, "arm64-packed")
    riscv = sample_named(dtc, "riscv64-padded")
    phandles = _values(arm64, "phandle")
    return {
        # seed 1 case 2368: a newline in a property name splits the reader's one error line in two
        "newline-in-property-name": _patched(pool, (_string(pool, b"model") + 2, b"\n")),
        # seed 1 case 1857: an ESC (or any control character) in a node name reaches the terminal raw
        "escape-in-node-name": _patched(pool, (_node_name(pool, b"memory@0") + 3, b"\x1b")),
        # seed 1 case 215: a newline in the pool's compatible splits add-range's error line and dump's output
        "newline-in-pool-compatible": _patched(pool, (_pool_value(pool, "compatible") + 6, b"\n")),
        # seed 1 case 285: a compatible that is not ASCII is shown raw, with its NUL terminator
        "non-ascii-pool-compatible": _patched(pool, (_pool_value(pool, "compatible") + 3, b"\x80")),
        # seed 1 case 387: dtc refuses two nodes with the same phandle (explicit_phandles)
        "duplicated-phandle": _patched(arm64, (phandles[1], arm64.data[phandles[0] : phandles[0] + 4])),
        # seed 1 case 236: dtc refuses a phandle of 0 (explicit_phandles)
        "phandle-0": _patched(arm64, (phandles[0], bytes(4))),
        # seed 1 case 584: dtc refuses a phandle that is not 4 bytes long (explicit_phandles)
        "phandle-3-bytes": _patched(arm64, (phandles[0] - 8, struct.pack(">I", 3))),
        # seed 1 case 4964: dtc refuses a root node named "/" (node_name_chars)
        "root-named-slash": _patched(riscv, (riscv.struct_start + 4, b"/")),
    }


REGRESSIONS = (
    "newline-in-property-name",
    "escape-in-node-name",
    "newline-in-pool-compatible",
    "non-ascii-pool-compatible",
    "duplicated-phandle",
    "phandle-0",
    "phandle-3-bytes",
    "root-named-slash",
)


def test_regression_list_is_complete(dtc: str) -> None:
    assert tuple(_regressions(dtc)) == REGRESSIONS


@pytest.mark.parametrize("case", REGRESSIONS)
def test_fuzz_regression(dtc: str, tmp_path: Path, case: str) -> None:
    """A blob the fuzzer once failed on passes every check now."""
    checked = check(_regressions(dtc)[case], tmp_path, dtc)
    assert not checked.failures, "\n".join(checked.failures)
