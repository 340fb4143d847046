"""The pmpool-v1 binding as a dt-schema binding (docs/bindings/pmpool-v1.yaml), checked by tools/check_schema.

The check needs dtschema's tools (the test extra) and dtc. Missing, they fail the run in CI (CI set) and skip
only on a developer's machine, saying so: a skip must not hide a failure in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pmpoolctl.pool import binding
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "check_schema"
YAML = ROOT / "docs" / "bindings" / "pmpool-v1.yaml"
SOURCES = ROOT / "tests" / "data" / "schema"
EXAMPLES = ROOT / "examples"
IOMEM = EXAMPLES / "memmap" / "iomem.txt"


def _load_checker() -> ModuleType:
    loader = SourceFileLoader("pmpool_schema_check", str(CHECK))
    spec = spec_from_loader(loader.name, loader)
    assert spec is not None
    module = module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while the file runs
    loader.exec_module(module)
    return module


checker = _load_checker()


def _require(what: str, missing: list[str]) -> None:
    """Fail in CI, skip (saying so) on a developer's machine, when a tool or library is missing."""
    if not missing:
        return
    message = f"{what} not installed: {', '.join(missing)} ({checker.INSTALL_HINT})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install them: the schema check cannot be skipped there")
    pytest.skip(f"{message}; CI installs them and fails without them")


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    _require("the dtschema tools or dtc", checker.missing_tools())
    return {name: str(path) for name, path in checker.find_tools().items()}


@pytest.fixture(scope="module")
def processed_schema(tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schema") / "processed-schema.json"
    verdict = checker.make_schema(tools, YAML, out)
    assert verdict.ok, verdict.lines()
    return out


@pytest.fixture(scope="module")
def check_run(tools: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """tools/check_schema as CI runs it, once for the tests that read its lines."""
    return subprocess.run(
        [sys.executable, str(CHECK)], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120
    )


def _line_for(run: subprocess.CompletedProcess[str], name: str) -> str:
    lines = [line for line in run.stdout.splitlines() if line[6:].startswith(name + ": ")]
    assert len(lines) == 1, (name, run.stdout)
    return lines[0]


def _compile(tools: dict[str, str], source: Path, out_dir: Path) -> Path:
    blob = out_dir / (source.stem + ".dtb")
    subprocess.run([tools["dtc"], "-q", "-I", "dts", "-O", "dtb", "-o", str(blob), str(source)], check=True)
    return blob


# The check end to end ----------------------------------------------------------------------------------------


def test_check_passes(check_run: subprocess.CompletedProcess[str]) -> None:
    assert check_run.returncode == 0, check_run.stdout + check_run.stderr
    assert check_run.stderr == ""
    assert check_run.stdout.splitlines()[-1].startswith("ok: ")
    assert "FAIL" not in check_run.stdout


def test_check_prints_one_line_per_file(check_run: subprocess.CompletedProcess[str]) -> None:
    for blob in sorted(EXAMPLES.glob("*.dtb")):
        assert _line_for(check_run, f"examples/{blob.name}").startswith("ok    ")
    for source in sorted(SOURCES.glob("*.dts")):
        assert _line_for(check_run, f"tests/data/schema/{source.name}").startswith("ok    ")
    assert _line_for(check_run, "docs/bindings/pmpool-v1.yaml").startswith("ok    ")
    assert _line_for(check_run, "docs/bindings/pmpool-v1.yaml examples").startswith("ok    ")


def test_the_violations_are_the_ones_the_sources_expect(check_run: subprocess.CompletedProcess[str]) -> None:
    sources = sorted(SOURCES.glob("bad-*.dts"))
    assert len(sources) >= 8
    for source in sources:
        expected = checker.parse_expectations(source.read_text(encoding="utf-8"))
        assert not expected.clean, f"{source.name} expects nothing"
        assert "expectations met" in _line_for(check_run, f"tests/data/schema/{source.name}")


def test_bad_pool_example_is_schema_valid_and_refused_by_validate(check_run: subprocess.CompletedProcess[str]) -> None:
    """examples/bad-pool.dtb is bad by the memory map only: the schema has nothing to say about it."""
    assert "no diagnostic about default_pmpool" in _line_for(check_run, "examples/bad-pool.dtb")
    run = run_cli(["validate", str(EXAMPLES / "bad-pool.dtb"), "--memmap", str(IOMEM), "--json"])
    assert run.exit_code == 1, run.stderr
    rules = {finding["rule"] for finding in json.loads(run.stdout)["findings"]}
    assert rules == {"range-in-kernel", "range-in-memreserve", "range-outside-ram"}


def test_noncanonical_pool_is_schema_valid_and_refused_by_validate(
    check_run: subprocess.CompletedProcess[str], tools: dict[str, str], tmp_path: Path
) -> None:
    """What the schema cannot express (alignment, order, overlap, empty ranges), `pmpoolctl validate` checks."""
    assert "no diagnostic about default_pmpool" in _line_for(check_run, "tests/data/schema/ok-noncanonical.dts")
    blob = _compile(tools, SOURCES / "ok-noncanonical.dts", tmp_path)
    run = run_cli(["validate", str(blob), "--json"])
    assert run.exit_code == 1, run.stderr
    rules = {finding["rule"] for finding in json.loads(run.stdout)["findings"]}
    assert rules == {"range-unaligned", "ranges-unsorted", "range-empty", "range-overlap"}


# What the schema rejects, `pmpoolctl validate` rejects too (binding-invalid), with one exception. (A unit
# address is refused as the schema refuses it: /default_pmpool finds default_pmpool@100000000, as libfdt does.)
VALIDATE_EXIT = {
    "bad-extra-untyped-property.dts": 0,  # the binding allows the property; only dtschema cannot type it
    # /default_pmpool@ADDR alone is no /default_pmpool (a look-up is exact): no pool node, named in the error
    "bad-unit-address.dts": 3,
}


@pytest.mark.parametrize("source", sorted(SOURCES.glob("bad-*.dts")), ids=lambda path: path.stem)
def test_validate_agrees_with_the_schema(source: Path, dtc: str, tmp_path: Path) -> None:
    blob = _compile({"dtc": dtc}, source, tmp_path)
    run = run_cli(["validate", str(blob), "--memmap", str(IOMEM), "--json"])
    expected = VALIDATE_EXIT.get(source.name, 1)
    assert run.exit_code == expected, (run.stdout, run.stderr)
    if expected == 1:
        rules = {finding["rule"] for finding in json.loads(run.stdout)["findings"]}
        assert rules == {"binding-invalid"}


# The check fails when it should: it reads the tools' output, which their exit codes do not reflect ---------------


def test_dt_validate_exits_0_on_a_violation(tools: dict[str, str], processed_schema: Path, tmp_path: Path) -> None:
    """Why the check reads dt-validate's output: a pool the schema rejects still exits 0."""
    blob = _compile(tools, SOURCES / "bad-page-ranges-missing.dts", tmp_path)
    code, output = checker.validate_blob(tools, processed_schema, blob)
    assert code == 0
    assert "'page-ranges' is a required property" in output
    assert checker.SCHEMA_ID in output


def test_an_unexpected_violation_fails(tools: dict[str, str], processed_schema: Path, tmp_path: Path) -> None:
    source = tmp_path / "unexpected.dts"
    text = (SOURCES / "bad-page-size-value.dts").read_text(encoding="utf-8")
    source.write_text("\n".join(line for line in text.splitlines() if "expect" not in line), encoding="utf-8")
    blob = _compile(tools, source, tmp_path)
    verdict = checker.check_blob(tools, processed_schema, blob, checker.Expectations(), "unexpected.dts")
    assert not verdict.ok
    assert "2 diagnostics about default_pmpool, iommu_pmpool, expected none" in verdict.summary
    # One expectation of two met: the other diagnostic is unexpected.
    half = checker.Expectations(ours=("page-size: 6144 is not one of",))
    verdict = checker.check_blob(tools, processed_schema, blob, half, "unexpected.dts")
    assert not verdict.ok
    unexpected = "unexpected: unexpected.dtb: iommu_pmpool (pmpool-v1): page-size: 2048"
    assert any(d.startswith(unexpected) for d in verdict.details), verdict.details


def test_an_unmet_expectation_fails(tools: dict[str, str], processed_schema: Path, tmp_path: Path) -> None:
    blob = _compile(tools, SOURCES / "ok-pools.dts", tmp_path)
    wanted = checker.Expectations(ours=("'page-size' is a required property",))
    verdict = checker.check_blob(tools, processed_schema, blob, wanted, "ok-pools.dts")
    assert not verdict.ok
    assert verdict.details[0].startswith("expected from the pmpool-v1 schema, not found")


def test_doc_validate_output_fails_the_check_even_when_it_exits_0(tools: dict[str, str], tmp_path: Path) -> None:
    """dt-doc-validate exits 0 when the $id does not match the file name, but says so: the check fails."""
    renamed = tmp_path / "pmpool.yaml"
    shutil.copyfile(YAML, renamed)
    proc = subprocess.run([tools["dt-doc-validate"], str(renamed)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "Cannot determine base path from $id" in proc.stderr
    verdict = checker.check_binding_document(tools, renamed)
    assert not verdict.ok
    assert any("Cannot determine base path" in d for d in verdict.details)


def test_a_blob_without_a_pool_fails(tools: dict[str, str], processed_schema: Path) -> None:
    """A clean verdict on a blob the schema never looked at would prove nothing."""
    blob = ROOT / "tests" / "data" / "qemu-virt-arm64.dtb"
    verdict = checker.check_blob(tools, processed_schema, blob, checker.Expectations(), blob.name)
    assert not verdict.ok
    assert verdict.summary == "no pool node found: nothing was checked"


# The checker's parsing (no tools needed) ----------------------------------------------------------------------

DT_VALIDATE_OUTPUT = """\
page-ranges: size (12) error for type uint64-matrix
b.dtb: /: 'compatible' is a required property
\tfrom schema $id: http://devicetree.org/schemas/root-node.yaml
b.dtb: default_pmpool (pmpool-v1): page-ranges: 'oneOf' conditional failed, one must be fixed:
\tb.dtb: default_pmpool (pmpool-v1): page-ranges: 'oneOf' conditional failed, one must be fixed:
\t\tTrue was expected
\t[5368709120] is too short
\tfrom schema $id: http://devicetree.org/schemas/pmpool-v1.yaml
b.dtb: default_pmpool@100000000 (pmpool-v1): $nodename:0: 'default_pmpool@100000000' does not match '^x$'
\tfrom schema $id: http://devicetree.org/schemas/pmpool-v1.yaml
"""


def test_parse_diagnostics() -> None:
    diagnostics = checker.parse_diagnostics(DT_VALIDATE_OUTPUT, "b.dtb")
    assert [(d.node, d.schema) for d in diagnostics] == [
        (None, None),
        ("/", "http://devicetree.org/schemas/root-node.yaml"),
        ("default_pmpool", checker.SCHEMA_ID),
        ("default_pmpool@100000000", checker.SCHEMA_ID),
    ]
    assert "[5368709120] is too short" in diagnostics[2].text
    assert diagnostics[2].first_line.endswith("one must be fixed:")


def test_judge_ignores_other_nodes_only() -> None:
    diagnostics = checker.parse_diagnostics(DT_VALIDATE_OUTPUT, "b.dtb")
    clean = checker.Expectations()
    assert checker.judge("b", diagnostics[1:2], {"default_pmpool"}, clean).ok
    assert not checker.judge("b", diagnostics[:1], {"default_pmpool"}, clean).ok  # the decoder's, about no node
    assert not checker.judge("b", diagnostics[1:3], {"default_pmpool"}, clean).ok


def test_parse_expectations() -> None:
    source = "/dts-v1/;\n// expect: a b\n  // expect-other: c: d\n/ { };\n"
    assert checker.parse_expectations(source) == checker.Expectations(ours=("a b",), other=("c: d",))
    assert checker.parse_expectations("/dts-v1/;\n/ { };\n").clean


@pytest.mark.parametrize(
    ("blob", "pools"),
    [
        (EXAMPLES / "pool.dtb", {"default_pmpool"}),
        (EXAMPLES / "qemu-virt-arm64-pool.dtb", {"default_pmpool"}),
        (ROOT / "tests" / "data" / "qemu-pseries.dtb", set()),
    ],
)
def test_pool_node_names(blob: Path, pools: set[str]) -> None:
    assert checker.pool_node_names(blob.read_bytes()) == pools


# The YAML says what pmpoolctl's binding module says ----------------------------------------------------------


@pytest.fixture(scope="module")
def schema_yaml() -> dict[str, Any]:
    try:
        from ruamel.yaml import YAML as RuamelYAML
    except ImportError:
        _require("ruamel.yaml (a dependency of dtschema)", ["ruamel.yaml"])
        raise
    loaded = RuamelYAML(typ="safe").load(YAML.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_yaml_properties_match_the_binding_module(schema_yaml: dict[str, Any]) -> None:
    properties = schema_yaml["properties"]
    known = {binding.PROP_COMPATIBLE, binding.PROP_PAGE_SIZE, binding.PROP_PAGE_RANGES}
    assert set(properties) - {"$nodename"} == known
    assert properties[binding.PROP_COMPATIBLE] == {"const": binding.COMPATIBLE}
    # page-size is optional (its default is the module's), page-ranges required even when the pool is empty.
    assert schema_yaml["required"] == [binding.PROP_COMPATIBLE, binding.PROP_PAGE_RANGES]
    page_size = properties[binding.PROP_PAGE_SIZE]
    assert page_size["$ref"] == "/schemas/types.yaml#/definitions/uint32"
    assert page_size["default"] == binding.DEFAULT_PAGE_SIZE
    assert page_size["enum"] == [1 << bits for bits in range(binding.MIN_PAGE_SIZE.bit_length() - 1, 32)]
    # page-ranges: empty (a flag), or rows of (base, size), each a u64: RANGE_ENTRY_SIZE bytes a row.
    flag, matrix = properties[binding.PROP_PAGE_RANGES]["oneOf"]
    assert flag == {"$ref": "/schemas/types.yaml#/definitions/flag"}
    assert matrix["$ref"] == "/schemas/types.yaml#/definitions/uint64-matrix"
    assert len(matrix["items"]["items"]) * 8 == binding.RANGE_ENTRY_SIZE
    # Other properties are allowed: pmpoolctl keeps them (Pool.extra_properties).
    assert schema_yaml["additionalProperties"] is True


def test_yaml_selects_what_pmpoolctl_reads(schema_yaml: dict[str, Any]) -> None:
    by_compatible, by_name = schema_yaml["select"]["anyOf"]
    assert by_compatible["properties"]["compatible"] == {"contains": {"const": binding.COMPATIBLE}}
    assert by_name["properties"]["$nodename"] == {"const": binding.DEFAULT_POOL}
    assert schema_yaml["$id"] == checker.SCHEMA_ID + "#"
    assert (checker.COMPATIBLE, checker.DEFAULT_POOL) == (binding.COMPATIBLE, binding.DEFAULT_POOL)
    pattern = schema_yaml["properties"]["$nodename"]["pattern"]
    names = [binding.DEFAULT_POOL, "iommu_pmpool", "pool,v1.a+b-c", "x" * 31, "x" * 32, "pool@0", "", "a b", "a/b"]
    for name in names:
        assert bool(re.fullmatch(pattern, name)) == binding.valid_pool_name(name), name
