"""Building the pyz in tests: the interpreters this machine has, the pinned wheels, tools/build_pyz.py.

conftest.py's `pyz_wheels` and `pyz` fixtures build it once a session (tests/test_pyz.py runs it by
every python found; tests/test_ci_recipes.py runs the recipes with it).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import required

REPO = Path(__file__).parents[2]
MINORS = ["3.10", "3.11", "3.12", "3.13"]
MINIMUM = "3.10"  # setup.cfg's python_requires: CI must have it


@functools.cache
def interpreter(minor: str) -> str | None:
    """A python `minor` (e.g. "3.10") on this machine: on PATH, in /usr/bin, or one of pyenv's versions."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{minor}"), f"/usr/bin/python{minor}"]
    candidates += [str(p) for p in sorted(pyenv.glob(f"{minor}.*/bin/python{minor}"))]
    for candidate in candidates:
        if candidate is None or not os.access(candidate, os.X_OK):
            continue
        probe = [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        run = subprocess.run(probe, capture_output=True, text=True, check=False)
        if run.returncode == 0 and run.stdout.strip() == minor:
            return candidate
    return None


def need(minor: str) -> str:
    """The python `minor`, or skip the test (in CI, fail it for the oldest supported one)."""
    python = interpreter(minor)
    if python is None and minor != MINIMUM:
        pytest.skip(f"no python{minor} on this machine")
    return required(python, f"python{minor}", "the oldest python pmpoolctl supports; pyenv install 3.10")


def fetch_wheels(directory: Path) -> None:
    """The pinned wheels, as make pyz fetches them (pip's cache makes every run after the first offline)."""
    requirements = str(REPO / "tools" / "pyz-requirements.txt")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "-q", "--no-deps"]
    fetch = [*pip, "--only-binary", ":all:", "--require-hashes", "-r", requirements, "-d", str(directory)]
    subprocess.run(fetch, check=True, capture_output=True)


def build(wheels: Path, out: Path, pythons: list[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO / "tools" / "build_pyz.py"), "--wheels", str(wheels), "-o", str(out)]
    for python in pythons:
        command += ["--bytecode", python]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def build_for_every_python(wheels: Path, out: Path) -> Path:
    """The pyz with bytecode for each of MINORS this machine has."""
    run = build(wheels, out, [python for python in map(interpreter, MINORS) if python is not None])
    assert run.returncode == 0, run.stderr
    return out
