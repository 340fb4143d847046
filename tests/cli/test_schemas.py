"""docs/schemas: a JSON Schema for every pmpoolctl.*/v1 document, held to real outputs of the commands.

The schemas are checked as written (what a consumer validates with) and, here, strictly: every
key a command prints must be declared in its schema, so a new key cannot go undocumented.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import DATA, EXAMPLES, run_cli

ROOT = Path(__file__).parent.parent.parent
SCHEMAS = ROOT / "docs" / "schemas"
PACKAGE = ROOT / "pmpoolctl"
MAP = str(EXAMPLES / "memmap" / "iomem.txt")
POOL = str(EXAMPLES / "pool.dtb")
BAD = str(EXAMPLES / "bad-pool.dtb")
KHO = str(EXAMPLES / "kho" / "v3-out")


def schema_names_in_code() -> set[str]:
    """Every `pmpoolctl.NAME/v1` the package can print."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        found.update(re.findall(r'"pmpoolctl\.([a-z-]+)/v1"', path.read_text()))
    return found


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` wherever an object lists its properties."""
    if isinstance(schema, dict):
        copy = {key: strict(value) for key, value in schema.items()}
        if "properties" in copy and "additionalProperties" not in copy:
            copy["additionalProperties"] = False
        return copy
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return schema


def assert_valid(document: Any) -> None:
    name = document["schema"].removeprefix("pmpoolctl.").removesuffix("/v1")
    schema = load(name)
    for checked in (schema, strict(schema)):
        errors = sorted(Draft202012Validator(checked).iter_errors(document), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def json_of(args: list[str], *codes: int) -> Any:
    """The JSON a command prints, exiting with one of `codes` (0 when none is given)."""
    run = run_cli(args)
    assert run.exit_code in (codes or (0,)), (args, run.exit_code, run.stderr)
    return json.loads(run.stdout)


def test_every_schema_the_code_prints_has_a_file_and_every_file_a_schema() -> None:
    files = {path.stem for path in SCHEMAS.glob("*.json")}
    assert schema_names_in_code() == files
    for name in files:
        schema = load(name)
        Draft202012Validator.check_schema(schema)
        assert schema["properties"]["schema"] == {"const": f"pmpoolctl.{name}/v1"}
        assert "schema" in schema["required"]


def unsorted_blob(tmp_path: Path, count: int = 8) -> Path:
    """A pool of `count` ranges stored in descending order: `count - 1` ranges-unsorted faults."""
    blob = tmp_path / "unsorted.dtb"
    args = ["create", str(blob)]
    for index in range(count):
        args += ["--range", hex(0x100000 + 0x2000 * index), "0x1000"]
    assert run_cli(args).exit_code == 0
    data = bytearray(blob.read_bytes())
    pairs = b"".join(struct.pack(">QQ", 0x100000 + 0x2000 * i, 0x1000) for i in range(count))
    at = data.index(pairs)
    data[at : at + len(pairs)] = b"".join(
        struct.pack(">QQ", 0x100000 + 0x2000 * i, 0x1000) for i in reversed(range(count))
    )
    blob.write_bytes(bytes(data))
    return blob


def test_dump_documents(tmp_path: Path) -> None:
    assert_valid(json_of(["dump", POOL, "--json"]))
    no_pool = json_of(["dump", str(DATA / "qemu-virt-arm64.dtb"), "--json"])
    assert no_pool["pool"] is None
    assert_valid(no_pool)
    broken = json_of(["dump", str(unsorted_blob(tmp_path)), "--json"])
    assert broken["pool"]["problems"]
    assert_valid(broken)


def test_validate_documents(tmp_path: Path) -> None:
    passed = json_of(["validate", POOL, "--memmap", MAP, "--json"])
    assert passed["ok"] is True
    assert_valid(passed)
    failed = json_of(["validate", BAD, "--memmap", MAP, "--json"], 1)
    assert failed["findings"][0]["conflicts"]
    assert_valid(failed)
    counted = json_of(["validate", str(unsorted_blob(tmp_path)), "--memmap", MAP, "--json"], 1)
    assert any(f.get("count", 1) > 1 for f in counted["findings"]) and "range" in counted["findings"][0]
    assert_valid(counted)
    log = json_of(["validate", POOL, "--memmap", str(DATA / "memmap" / "dmesg.txt"), "--json"], 0, 1)
    assert_valid(log)


def test_kho_validate_document_with_notes(tmp_path: Path) -> None:
    root_only = tmp_path / "kho"
    shutil.copytree(KHO, root_only)
    (root_only / "scratch_phys").unlink()
    (root_only / "scratch_len").unlink()
    document = json_of(["kho", "validate", str(root_only), "--memmap", MAP, "--json"])
    assert document["notes"]
    assert_valid(document)


def test_diff_documents(tmp_path: Path) -> None:
    same = json_of(["diff", POOL, POOL, "--json"])
    assert same["same"] is True
    assert_valid(same)
    changed = tmp_path / "changed.dtb"
    shutil.copy(POOL, changed)
    assert run_cli(["add-range", str(changed), "0x180000000", "64M"]).exit_code == 0
    assert_valid(json_of(["diff", POOL, str(changed), "--json"], 1))
    appears = json_of(["diff", str(DATA / "qemu-virt-arm64.dtb"), POOL, "--json"], 1)
    assert appears["old"]["pool"] is None and appears["header"]
    assert_valid(appears)
    broken = json_of(["diff", POOL, str(unsorted_blob(tmp_path)), "--json"], 1)
    assert broken["new"]["pool"]["findings"]
    assert_valid(broken)


def test_memmap_documents() -> None:
    assert_valid(json_of(["memmap", MAP, "--json"]))
    for source in sorted((DATA / "memmap" / "e820").glob("*.log"))[:3]:
        assert_valid(json_of(["memmap", str(source), "--json"]))
    assert_valid(json_of(["memmap", str(DATA / "memmap" / "firmware-memmap"), "--json"]))
    assert_valid(json_of(["memmap", POOL, "--json"]))


def test_kho_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (KHO, str(EXAMPLES / "kho" / "out")):
        assert_valid(json_of(["kho", "dump", path, "--json"]))
    sysfs = tmp_path / "sys"
    entry = sysfs / "kernel" / "boot_params" / "setup_data" / "0"
    entry.mkdir(parents=True)
    (entry / "type").write_text("0xa\n")  # SETUP_KEXEC_KHO
    (entry / "data").write_bytes(struct.pack("<4Q", 0x117000000, 0x1000, 0x116000000, 64))
    monkeypatch.setenv("PMPOOLCTL_SYSFS", str(sysfs))
    booted = json_of(["kho", "dump", "--booted", "--json"])
    assert booted["booted"]["fdt_address"] == 0x117000000
    assert_valid(booted)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["dump", "/nonexistent/x.dtb", "--json"], 3),
        (["dump", POOL, "--json", "--dts"], 2),
        (["validate", POOL, "--memmap", "/nonexistent/map", "--json"], 3),
        (["validate", POOL, "--phys-bits", "99", "--json"], 2),
        (["diff", POOL, "/nonexistent/y.dtb", "--json"], 3),
        (["memmap", "/nonexistent/map", "--json"], 3),
        (["kho", "dump", "/nonexistent/kho", "--json"], 3),
        (["kho", "validate", KHO, "--json"], 2),
    ],
)
def test_error_documents(args: list[str], code: int) -> None:
    document = json_of(args, code)
    assert document["schema"] == "pmpoolctl.error/v1" and document["exit_code"] == code
    assert_valid(document)
