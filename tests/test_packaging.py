"""`pip install .` gives a working pmpoolctl: the wheel holds every module, its metadata and the entry point."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pmpoolctl import __version__

REPO = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a checkout (offline: the build backend must already be installed)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("pmpoolctl-*.whl")
    return built


def test_wheel_holds_every_module_and_the_type_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"pmpoolctl/{p.name}" for p in (REPO / "pmpoolctl").glob("*.py")}
    assert modules <= names, modules - names
    assert "pmpoolctl/py.typed" in names
    assert not any(name.startswith(("tests/", "benchmarks/", "docs/")) for name in names)


def test_wheel_metadata(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    info = f"pmpoolctl-{__version__}.dist-info"
    metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    assert metadata["Name"] == "pmpoolctl" and metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.10"
    requires = metadata.get_all("Requires-Dist") or []
    assert {r.split(";")[0].replace(" ", "") for r in requires} >= {"click>=8.1", "fdt==0.3.3", "rich>=13"}
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Operating System :: POSIX :: Linux" in classifiers
    assert metadata.get_payload()  # the README is the long description
    assert f"{info}/licenses/LICENSE" in archive.namelist()
    entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "[console_scripts]\npmpoolctl = pmpoolctl.__main__:main" in entry_points


def test_installed_wheel_runs(wheel: Path, tmp_path: Path) -> None:
    """The wheel installed into a fresh directory (its dependencies from this environment) runs."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    script = target / "bin" / "pmpoolctl"
    assert script.exists(), "pip made no pmpoolctl script"
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, str(script), "--version"], env=env, capture_output=True, text=True, check=False
    )
    assert (run.returncode, run.stdout) == (0, f"pmpoolctl, version {__version__}\n"), run.stderr
    dump = subprocess.run(
        [sys.executable, str(script), "dump", str(REPO / "examples" / "pool.dtb")],
        env=env,
        capture_output=True,
        check=False,
    )
    assert dump.returncode == 0 and b"Pool /default_pmpool" in dump.stdout
    # it ran from the installed copy, not from the checkout
    where = subprocess.run(
        [sys.executable, "-c", "import pmpoolctl; print(pmpoolctl.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(target))
