"""`pip install .` gives a working pmpoolctl: the wheel holds every module, its metadata and the entry point.

Distributions build it offline with their own setuptools (Debian 12's 66.1, Ubuntu 22.04's 59.6), and
its dependencies are ranges that their click and rich fall into.
"""

from __future__ import annotations

import configparser
import email
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from pmpoolctl import __version__

REPO = Path(__file__).parents[2]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]

# What a distribution builds with: its python3-setuptools and python3-wheel (setuptools before 70.1
# builds wheels through the wheel package).
DISTRIBUTION_BUILDERS = {
    "debian-12": ["setuptools==66.1.1", "wheel==0.38.4"],
    "ubuntu-22.04": ["setuptools==59.6.0", "wheel==0.37.1"],
}
# The fdt versions whose defects dtb/writer.py guards against (docs/design.md, "The fdt package": 0.3.3).
GUARDED_FDT = SpecifierSet(">=0.3.3,<0.4")
# The runtime dependencies: lower bounds at Debian 12's python3-click and python3-rich.
RUNTIME = {"click": SpecifierSet(">=8.1.3"), "fdt": GUARDED_FDT, "rich": SpecifierSet(">=13.3.1")}


def declared_requirements() -> dict[str, SpecifierSet]:
    """install_requires in setup.cfg, by name."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    lines = config["options"]["install_requires"].split("\n")
    return {req.name: req.specifier for req in (Requirement(line) for line in lines if line.strip())}


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a source package holds, copied: a build leaves build/ and *.egg-info/ behind, never in the checkout."""
    tree = tmp_path_factory.mktemp("source") / "pmpoolctl"
    tree.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "pmpoolctl", tree / "pmpoolctl", ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def build_wheel(python: str, source: Path, out: Path) -> Path:
    """The wheel pip builds offline (--no-build-isolation): with the setuptools already beside `python`."""
    subprocess.run(
        [*PIP, "--python", python, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("pmpoolctl-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built with this environment's setuptools (the test extra's)."""
    return build_wheel(sys.executable, source_tree, tmp_path_factory.mktemp("wheel"))


@dataclass(frozen=True)
class WheelFacts:
    name: str
    version: str
    license: str | None
    requires: dict[str, str]  # name (with its marker) -> specifier set
    files: frozenset[str]  # outside the .dist-info directory
    license_file: bytes | None
    entry_points: str


def wheel_facts(wheel: Path) -> WheelFacts:
    archive = zipfile.ZipFile(wheel)
    info = f"pmpoolctl-{__version__}.dist-info"
    metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    requires = {}
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        requires[f"{req.name}; {req.marker}" if req.marker else req.name] = str(req.specifier)
    names = archive.namelist()
    licenses = [name for name in names if name.startswith(f"{info}/") and name.endswith("/LICENSE")]
    return WheelFacts(
        name=metadata["Name"],
        version=metadata["Version"],
        license=metadata["License"],
        requires=requires,
        files=frozenset(name for name in names if not name.startswith(f"{info}/")),
        license_file=archive.read(licenses[0]) if len(licenses) == 1 else None,
        entry_points=archive.read(f"{info}/entry_points.txt").decode().strip(),
    )


def test_wheel_holds_every_module_and_the_type_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "pmpoolctl").rglob("*.py")}
    assert modules <= names, modules - names
    assert "pmpoolctl/py.typed" in names
    assert not any(name.startswith(("tests/", "benchmarks/", "docs/", "tools/")) for name in names)


def test_wheel_metadata(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    info = f"pmpoolctl-{__version__}.dist-info"
    metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    facts = wheel_facts(wheel)
    assert (facts.name, facts.version, facts.license) == ("pmpoolctl", __version__, "MIT")
    assert metadata["Requires-Python"] == ">=3.10"
    runtime = {name: spec for name, spec in facts.requires.items() if ";" not in name}
    assert runtime == {name: str(spec) for name, spec in RUNTIME.items()}
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Operating System :: POSIX :: Linux" in classifiers
    assert metadata.get_payload()  # the README is the long description
    assert facts.license_file == (REPO / "LICENSE").read_bytes()
    assert "[console_scripts]\npmpoolctl = pmpoolctl.__main__:main" in facts.entry_points


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTION_BUILDERS))
def test_wheel_builds_offline_with_a_distributions_setuptools(
    distribution: str, source_tree: Path, wheel: Path, tmp_path: Path
) -> None:
    """The same wheel from the setuptools that Debian 12 and Ubuntu 22.04 ship (no metadata only newer ones read)."""
    started = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = ["install", "-q", *DISTRIBUTION_BUILDERS[distribution]]
    subprocess.run([*PIP, "--python", python, *install], check=True, capture_output=True)
    old = wheel_facts(build_wheel(python, source_tree, tmp_path / "out"))
    assert old == wheel_facts(wheel)
    assert time.monotonic() - started < 60


def test_dependencies_are_ranges_and_fdt_stays_where_its_guards_hold() -> None:
    assert declared_requirements() == RUNTIME
    installed = importlib.metadata.version("fdt")
    assert installed in GUARDED_FDT, f"fdt {installed}: the guards in blob.py were written for {GUARDED_FDT}"


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
