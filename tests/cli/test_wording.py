"""Words as people read them: one range, 0 bytes, a create error that names its file, help when bare."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import EXAMPLES, run_cli


def test_one_of_a_thing_is_singular(tmp_path: Path) -> None:
    blob = tmp_path / "one.dtb"
    assert run_cli(["create", str(blob), "--range", "0x100000", "4K"]).exit_code == 0
    dump = run_cli(["dump", str(blob)]).stdout
    assert "Total: 1 range, 4096 bytes (4 KiB), 1 page\n" in dump
    removed = run_cli(["remove-range", str(blob), "0x100000", "4K", "--dry-run"]).stdout
    assert "  before: 1 range, 4 KiB, 1 page\n" in removed
    assert "  after:  0 ranges, 0 bytes, 0 pages\n" in removed
    one_entry = tmp_path / "map.json"
    one_entry.write_text(json.dumps([{"start": 0, "end": 1 << 30, "type": "System RAM"}]))
    assert run_cli(["memmap", str(one_entry)]).stdout.startswith(f"{one_entry}: json, 1 entry\n")
    validated = run_cli(["validate", str(blob), "--memmap", str(one_entry)]).stdout
    assert f": /default_pmpool: 1 range checked against {one_entry} (json, 1 entry)\n" in validated


def test_an_empty_pool_is_0_bytes(tmp_path: Path) -> None:
    blob = tmp_path / "empty.dtb"
    assert run_cli(["create", str(blob)]).exit_code == 0
    assert "Total: 0 ranges, 0 bytes, 0 pages\n" in run_cli(["dump", str(blob)]).stdout
    assert " B\n" not in run_cli(["dump", str(EXAMPLES / "pool.dtb")]).stdout
