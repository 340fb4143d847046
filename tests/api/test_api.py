"""pmpoolctl as a library: the use cases return data, never print, and keep the CLI's guarantees."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pmpoolctl
from pmpoolctl import api
from pmpoolctl.errors import EditError, InputError
from pmpoolctl.ranges.rangeset import Range
from tests.conftest import EXAMPLES, run_cli

IOMEM = str(EXAMPLES / "memmap" / "iomem.txt")


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    copy = tmp_path / "pool.dtb"
    shutil.copyfile(EXAMPLES / "pool.dtb", copy)
    return copy


def test_every_name_in_all_is_exported_and_the_package_re_exports_the_api() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None
    exported = set(pmpoolctl.__all__) - {"__version__"}
    assert exported == {n for n in api.__all__ if n not in ("Hook", "Progress", "RangesLike")}
    assert all(getattr(pmpoolctl, n) is getattr(api, n) for n in exported)


def test_importing_pmpoolctl_is_cheap() -> None:
    """A script that imports pmpoolctl does not pay for click, rich, fdt or the validator until it uses them."""
    code = "import sys, pmpoolctl; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert not loaded & {"click", "rich", "fdt", "pmpoolctl.cli", "pmpoolctl.api", "pmpoolctl.dtb.reader"}
    loaded = _modules_after("import sys, pmpoolctl; pmpoolctl.validate")
    assert "pmpoolctl.api" in loaded and not loaded & {"click", "rich", "fdt", "pmpoolctl.check.validate"}


def _modules_after(code: str) -> set[str]:
    script = f"{code}; print(' '.join(sorted(sys.modules)))"
    return set(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    )


def test_the_api_prints_nothing(blob: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pmpoolctl.validate(str(blob), [IOMEM])
    pmpoolctl.add_ranges(str(blob), [(0x180000000, 0x4000000)], dry_run=True)
    pmpoolctl.diff(str(blob), str(EXAMPLES / "bad-pool.dtb"))
    assert capsys.readouterr() == ("", "")


def test_validate_gives_the_cli_verdict_and_findings() -> None:
    good = pmpoolctl.validate(str(EXAMPLES / "pool.dtb"), [IOMEM])
    assert good.passes() and good.passes(strict=True) and good.findings == []
    bad = pmpoolctl.validate(str(EXAMPLES / "bad-pool.dtb"), [IOMEM])
    assert not bad.passes()
    cli = json.loads(run_cli(["validate", str(EXAMPLES / "bad-pool.dtb"), "--memmap", IOMEM, "--json"]).stdout)
    assert sorted(f.rule for f in bad.findings) == sorted(f["rule"] for f in cli["findings"])
    assert bad.errors == cli["summary"]["errors"] and bad.source == cli["file"] and cli["ok"] is False


def test_a_warning_fails_only_strict(tmp_path: Path, dtc: str) -> None:
    """Two touching ranges break no rule but the binding's canonical form: a warning, so only --strict fails."""
    dts = (EXAMPLES / "pool.dts").read_text()
    touching = "page-ranges = /bits/ 64 <0x100000000 0x200000>, /bits/ 64 <0x100200000 0x200000>;"
    source = tmp_path / "touching.dts"
    source.write_text(dts[: dts.index("page-ranges")] + touching + "\n\t};\n};\n")
    out = tmp_path / "touching.dtb"
    subprocess.run([dtc, "-q", "-I", "dts", "-O", "dtb", "-o", str(out), str(source)], check=True)
    result = pmpoolctl.validate(str(out))
    assert [f.rule for f in result.findings] == ["ranges-not-coalesced"] and result.warnings == 1
    assert result.passes() and not result.passes(strict=True)


def test_validate_takes_blobs_and_maps_already_read(blob: Path) -> None:
    memory_map = pmpoolctl.load_memory_map(IOMEM)
    loaded = pmpoolctl.read_blob(str(blob))
    assert pmpoolctl.validate(loaded, [memory_map]).report.maps == [memory_map]
    assert pmpoolctl.load_memory_maps([memory_map, IOMEM])[0] is memory_map


def test_add_ranges_writes_once_under_the_commit_hooks(blob: Path) -> None:
    before = blob.read_bytes()
    seen: list[object] = []
    edit = pmpoolctl.add_ranges(
        str(blob),
        [(0x180000000, 0x4000000)],
        before_commit=lambda: seen.append(blob.read_bytes() == before),  # not yet replaced
        after_commit=seen.append,
    )
    assert seen == [True, str(blob)]
    assert edit.changed and edit.written == str(blob) and edit.data is None
    # 0x180000000 is where the pool's second range ends: the two merge.
    assert edit.change.before == (2, 0x40200000) and edit.change.after == (2, 0x44200000)
    assert pmpoolctl.read_pool(str(blob)).ranges[-1] == Range(0x140000000, 0x44000000)
    assert not list(blob.parent.glob(".pool.dtb.*.tmp"))


def test_dry_run_and_to_bytes_write_nothing(blob: Path) -> None:
    before = blob.read_bytes()
    dry = pmpoolctl.add_ranges(str(blob), [(0x180000000, 0x1000)], dry_run=True)
    assert dry.dry_run and dry.written is None and dry.change.added is not None and list(dry.change.added)
    new = pmpoolctl.remove_ranges(str(blob), [Range(0x100000000, 0x1000)], output=pmpoolctl.TO_BYTES)
    assert blob.read_bytes() == before and new.written is None and new.data is not None
    written = blob.parent / "new.dtb"
    written.write_bytes(new.data)
    assert pmpoolctl.read_pool(str(written)).ranges[0] == Range(0x100001000, 0x1FF000)


def test_a_refused_edit_changes_nothing(blob: Path) -> None:
    before = blob.read_bytes()
    with pytest.raises(EditError, match="overlap"):
        pmpoolctl.add_ranges(str(blob), [(0x100000000, 0x1000)])
    with pytest.raises(EditError):
        pmpoolctl.remove_ranges(str(blob), [(0x300000000, 0x1000)])
    assert pmpoolctl.remove_ranges(str(blob), [(0x300000000, 0x1000)], ignore_missing=True).changed is False
    assert blob.read_bytes() == before


def test_list_changes_gives_the_ranges_an_edit_adds_and_removes(blob: Path) -> None:
    edit = pmpoolctl.remove_ranges(str(blob), [(0x100000000, 0x1000)], list_changes=True)
    # As canonical ranges: the one that was, and what is left of it.
    assert edit.change.removed is not None and list(edit.change.removed) == [Range(0x100000000, 0x200000)]
    assert edit.change.added is not None and list(edit.change.added) == [Range(0x100001000, 0x1FF000)]


def test_create_refuses_an_existing_file_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "new.dtb"
    created = pmpoolctl.create(str(out), [(0x100000000, 0x200000)], page_size=0x200000)
    assert created.written == str(out) and pmpoolctl.read_pool(str(out)).page_size == 0x200000
    with pytest.raises(InputError, match="exists"):
        pmpoolctl.create(str(out))
    pmpoolctl.create(str(out), force=True, base=str(EXAMPLES / "pool.dtb"), pool="second_pool")
    assert len(pmpoolctl.read_pool(str(out), "second_pool").ranges) == 0
    assert pmpoolctl.read_pool(str(out)).ranges  # the base blob's own pool came along


def test_diff_and_read_ranges(blob: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch.txt"
    batch.write_text("0x180000000 64M\n0x200000000 2M\n")
    ranges = pmpoolctl.read_ranges(str(batch))
    assert list(ranges) == [Range(0x180000000, 64 << 20), Range(0x200000000, 2 << 20)]
    original = str(EXAMPLES / "pool.dtb")
    assert pmpoolctl.diff(original, str(blob)).same
    pmpoolctl.add_ranges(str(blob), ranges)
    comparison = pmpoolctl.diff(original, str(blob))
    assert not comparison.same and list(comparison.result.added) == list(ranges)
    with pytest.raises(InputError, match="no_such_pool"):
        pmpoolctl.diff(original, str(blob), "no_such_pool")


def test_kho_validation_needs_a_map() -> None:
    with pytest.raises(ValueError, match="memory map"):
        pmpoolctl.validate_kho(str(EXAMPLES / "kho" / "out"))
    result = pmpoolctl.validate_kho(str(EXAMPLES / "kho" / "out"), [IOMEM])
    assert result.source.endswith("out") and isinstance(result.passes(), bool)


# --- issue 18 ---------------------------------------------------------------------------------------------------------

KEXEC_CAPTURE = str(Path(__file__).parents[1] / "data" / "memmap" / "kexec" / "kexec-l-d.txt")


def test_a_kexec_segment_list_is_held_against_with_the_blobs_ram(blob: Path) -> None:
    """Segments alone are no map of RAM: the blob's /memory is added, so outside-RAM is still checked."""
    result = pmpoolctl.validate(str(blob), [KEXEC_CAPTURE])
    assert [m.format for m in result.report.maps] == ["kexec", "dtb"] and result.passes(strict=True)
    over = pmpoolctl.add_ranges(str(blob), [(0x63E000000, 0x1000)], output=pmpoolctl.TO_BYTES)
    assert over.data is not None
    (blob.parent / "over.dtb").write_bytes(over.data)
    found = pmpoolctl.validate(str(blob.parent / "over.dtb"), [KEXEC_CAPTURE, IOMEM])
    assert [f.rule for f in found.findings] == ["range-in-kexec-segment"]


def test_every_pool_and_canonicalize(tmp_path: Path, blob: Path) -> None:
    two = tmp_path / "two.dtb"
    pmpoolctl.create(str(two), [(0x100000000, 0x1000)], pool="iommu_pmpool", base=str(blob))
    assert [p.path for p in pmpoolctl.find_pools(pmpoolctl.read_blob(str(two)))] == ["/default_pmpool", "/iommu_pmpool"]
    every = pmpoolctl.validate_all_pools(str(two), [IOMEM])
    assert not every.passes() and [f.rule for f in every.findings] == ["pools-overlap"]
    assert [v.report.pool.path for v in every.validations] == ["/default_pmpool", "/iommu_pmpool"]
    edit = pmpoolctl.canonicalize(str(blob), dry_run=True)
    assert not edit.changed and edit.written is None  # canonical already


def test_capture_to_bytes_reads_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    shutil.copyfile(IOMEM, proc / "iomem")
    monkeypatch.setenv("PMPOOLCTL_PROC", str(proc))
    monkeypatch.setenv("PMPOOLCTL_SYSFS", str(tmp_path / "sys"))
    monkeypatch.setenv("PMPOOLCTL_KMSG", str(tmp_path / "no-kmsg"))
    monkeypatch.setenv("PATH", str(tmp_path))
    captured = pmpoolctl.capture(pmpoolctl.TO_BYTES)
    assert captured.written is None and captured.data is not None
    assert [line.split(":")[0] for line in captured.missing] == [
        "firmware_memmap",
        "e820",
        "phys_bits",
        "cmdline",
        "kho",
    ]
    (tmp_path / "c.json").write_bytes(captured.data)
    maps = pmpoolctl.load_memory_maps([str(tmp_path / "c.json")])
    assert [m.format for m in maps] == ["iomem"] and maps[0].phys_bits is None


# --- pool names and paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("\u00e9", "holds '\u00e9', which a node name cannot", id="not-ascii"),
        pytest.param("foo@1", "has a unit address (@1): the binding forbids one on a pool node", id="unit-address"),
        pytest.param("p" * 32, "is 32 characters long; a node name is at most 31", id="too-long"),
        pytest.param("chosen", "/chosen is the devicetree specification's node for the boot arguments", id="chosen"),
        pytest.param("a/b", "is not a node name or /NAME", id="path"),
        pytest.param("", "is not a node name or /NAME", id="empty"),
    ],
)
def test_create_refuses_a_name_no_pool_node_can_have_and_writes_nothing(tmp_path: Path, name: str, says: str) -> None:
    """One error (a ValueError, exit 2 as a usage error) instead of an AssertionError from the encoder,
    or a blob that its own validate refuses (`foo@1`)."""
    out = tmp_path / "new.dtb"
    with pytest.raises(pmpoolctl.errors.PoolNameError, match=re.escape(says)) as raised:
        pmpoolctl.create(str(out), pool=name)
    assert isinstance(raised.value, ValueError) and raised.value.exit_code == 2
    assert not out.exists()


def test_a_lookup_takes_a_unit_address_and_refuses_what_is_no_pool_name(blob: Path) -> None:
    assert pmpoolctl.find_pool(pmpoolctl.read_blob(blob), "default_pmpool@1") is None
    for bad in ("chosen", "\u00e9", "x" * 40, "a@b@c"):
        with pytest.raises(ValueError):
            pmpoolctl.read_pool(blob, bad)
        with pytest.raises(ValueError):
            pmpoolctl.validate(blob, [IOMEM], pool=bad)


def test_every_path_argument_takes_a_path_object(tmp_path: Path, blob: Path) -> None:
    """pathlib.Path (any os.PathLike of text) wherever a str path is taken."""
    batch = tmp_path / "batch.txt"
    batch.write_text("0x180000000 2M\n")
    iomem = Path(IOMEM)
    assert pmpoolctl.read_blob(blob).source == str(blob)
    assert pmpoolctl.read_pool(blob).path == "/default_pmpool"
    assert list(pmpoolctl.read_ranges(batch)) == [Range(0x180000000, 2 << 20)]
    out = tmp_path / "out.dtb"
    assert pmpoolctl.add_ranges(blob, from_file=batch, output=out).written == str(out)
    assert pmpoolctl.remove_ranges(out, [(0x180000000, 0x1000)]).written == str(out)
    assert pmpoolctl.canonicalize(out, dry_run=True).file == str(out)
    assert not pmpoolctl.diff(blob, out).same
    created = tmp_path / "created.dtb"
    assert pmpoolctl.create(created, base=blob, pool="other_pmpool").written == str(created)
    assert pmpoolctl.load_memory_map(iomem).source == IOMEM
    assert [m.source for m in pmpoolctl.load_memory_maps([iomem])] == [IOMEM]
    assert pmpoolctl.validate(blob, [iomem]).passes()
    assert pmpoolctl.validate_all_pools(created, [iomem]).validations
    assert pmpoolctl.address_space(blob, [iomem]).validation is not None
    kho = EXAMPLES / "kho" / "out"
    assert pmpoolctl.load_kho(kho).compatibles
    assert isinstance(pmpoolctl.validate_kho(kho, [iomem]).passes(), bool)
    assert pmpoolctl.capture(tmp_path / "host.json").written == str(tmp_path / "host.json")
