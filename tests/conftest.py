"""Shared fixtures: the CLI runner, the test data, and dtc as the oracle."""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from hypothesis import settings

from pmpoolctl.cli import cli

if TYPE_CHECKING:
    from pmpoolctl.memmap.model import MemoryMap

# CI runs the same examples every time (a red CI must be reproducible); developers'
# runs stay random and keep hypothesis' database of past failures.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# COLUMNS unset for the session: tables are as wide as their cells (a developer's exported COLUMNS
# would change every golden); a test that needs a width sets COLUMNS itself (monkeypatch).
os.environ.pop("COLUMNS", None)


@pytest.fixture(autouse=True, scope="session")
def _no_terminal_size_in_the_environment() -> None:
    """COLUMNS and LINES unset where subprocesses inherit them too, the C environment.

    pytest imports readline (for pdb); with TERM set, readline's terminal set-up has ncurses export
    COLUMNS=80 and LINES into the process's environment with setenv, which os.environ never sees:
    every command a test starts then fits its tables to 80 columns, and the pyz's tables differed
    from the in-process run's. Setting and deleting the name through os.environ unsets it there.
    """
    for name in ("COLUMNS", "LINES"):
        os.environ[name] = ""
        del os.environ[name]


@pytest.fixture(autouse=True)
def _no_kho_on_the_test_host(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """In-process --live runs read no KHO state of the machine the tests run on (a test that wants
    one points kho.hostzones at its own)."""
    import pmpoolctl.kho.hostzones
    import pmpoolctl.memmap.hostcapture

    cmdline = tmp_path_factory.getbasetemp() / "cmdline-without-kho"
    cmdline.write_text("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro\n")
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_KHO", str(cmdline.parent / "no-kho-out"))
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_CMDLINE", str(cmdline))
    monkeypatch.setattr(pmpoolctl.kho.hostzones, "LIVE_CONFIGS", ())  # nor its kernel config
    monkeypatch.setattr(pmpoolctl.memmap.hostcapture, "BOOT_DIR", str(cmdline.parent / "no-boot"))


DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(__file__).parent.parent / "examples"
QEMU_TREES = ("qemu-virt-arm64.dtb", "qemu-pseries.dtb", "qemu-virt-riscv64.dtb")


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def _runner() -> CliRunner:
    """A runner that keeps stderr apart: click 8.2+ always does, 8.1 (Debian 12's, make test-oldest) on request."""
    if "mix_stderr" in inspect.signature(CliRunner).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg,unused-ignore]  # click 8.1 only
    return CliRunner()


def run_cli(args: Sequence[str], stdin: bytes | str | None = None) -> Run:
    """Run pmpoolctl in-process as a user would; stdout and stderr apart."""
    result = _runner().invoke(cli, list(args), input=stdin, catch_exceptions=False, env={"NO_COLOR": "1"})
    return Run(result.exit_code, result.stdout, result.stderr)


def load_script(path: Path) -> ModuleType:
    """A script of the repository (tools/*.py) as a module, to test its functions; it imports its neighbours
    (tools/generated.py) as it does when run, from its own directory."""
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    loaded = sys.modules.get(path.stem)  # already imported by a neighbour: the same module, not a second copy
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == path.resolve():
        return loaded
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def check_golden(name: str, actual: str) -> None:
    """`actual` is tests/golden/NAME; PMPOOLCTL_UPDATE_GOLDEN=1 rewrites the file (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("PMPOOLCTL_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"no golden file {path}; run with PMPOOLCTL_UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text()


@pytest.fixture
def pool_blob(tmp_path: Path) -> Path:
    """A copy of examples/pool.dtb: 2 MiB at 4 GiB and 1 GiB at 5 GiB, one /memreserve/."""
    target = tmp_path / "pool.dtb"
    shutil.copy(EXAMPLES / "pool.dtb", target)
    return target


def map_rows(memory_map: MemoryMap) -> list[tuple[int, int, str, str, str]]:
    """(start, end, type, class, source) of every entry of a memory map, to compare whole."""
    return [(e.start, e.end, e.type, e.kind, e.source) for e in memory_map.entries]


def assert_input_error(run: Run, *needles: str) -> None:
    """Exit 3, one `error:` line on stderr naming what it should, nothing on stdout, no traceback."""
    assert run.exit_code == 3, (run.exit_code, run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def data_dir() -> Path:
    return DATA


def required(found: str | None, what: str, hint: str) -> str:
    """`found`, a tool or interpreter that a test needs; when it is None the test fails in CI (whose .ci/run
    installs it) and is skipped only on a developer's machine."""
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI ({hint})")
        pytest.skip(f"{what} not installed ({hint}); CI installs it and fails without it")
    return found


def _find_tool(name: str) -> str:
    """A device-tree-compiler tool: dtc is the oracle for written blobs."""
    return required(shutil.which(name), name, "apt-get install device-tree-compiler")


def _find_dtc() -> str:
    return _find_tool("dtc")


@pytest.fixture(scope="session")
def fdtget() -> str:
    """fdtget (libfdt: linear in siblings, where dtc's checks take ~30 s on 100k)."""
    return _find_tool("fdtget")


@pytest.fixture
def dtc() -> str:
    """Path to dtc. Missing dtc fails the run in CI (CI=true) and skips only on a developer's machine."""
    return _find_dtc()


def dtc_decompile(dtc_path: str, blob: Path | bytes) -> tuple[str, str]:
    """`dtc -I dtb -O dts`: (source, warnings with the file name taken out)."""
    if isinstance(blob, Path):
        proc = subprocess.run([dtc_path, "-I", "dtb", "-O", "dts", str(blob)], capture_output=True, check=False)
        name = str(blob)
    else:
        proc = subprocess.run([dtc_path, "-I", "dtb", "-O", "dts", "-"], input=blob, capture_output=True, check=False)
        name = "<stdin>"
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode(), proc.stderr.decode().replace(name, "BLOB")


@pytest.fixture(scope="session")
def pyz_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels tools/pyz-requirements.txt pins, fetched by their sha256 (tests/pyzbuild.py)."""
    from tests.helpers.pyzbuild import fetch_wheels

    directory = tmp_path_factory.mktemp("pyz-wheels")
    fetch_wheels(directory)
    return directory


@pytest.fixture(scope="session")
def pyz(pyz_wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/pmpoolctl.pyz as make pyz builds it, with bytecode for every python 3.10+ on this machine."""
    from tests.helpers.pyzbuild import build_for_every_python

    return build_for_every_python(pyz_wheels, tmp_path_factory.mktemp("dist") / "pmpoolctl.pyz")
