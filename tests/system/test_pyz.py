"""The single-file build (make pyz, tools/build_pyz.py): one file that runs where python3 >= 3.10 is all there is.

The pyz is built here from the wheels tools/pyz-requirements.txt pins (pip download, checked by sha256)
with bytecode for every python 3.10+ this machine has, and run by each under `-I -S`: no site-packages,
no user site, no PYTHON* variables, so nothing installed can help it. It must answer as the installed
package does.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pmpoolctl import __version__
from tests.conftest import EXAMPLES, load_script, run_cli
from tests.helpers.pyzbuild import MINORS, build, interpreter, need

REPO = Path(__file__).parents[2]


def demo_commands(tmp_path: Path) -> list[list[str]]:
    """make demo's commands, a validation as the pre-kexec hook runs it, and edits (which import fdt)."""
    pool, bad, iomem = EXAMPLES / "pool.dtb", EXAMPLES / "bad-pool.dtb", EXAMPLES / "memmap" / "iomem.txt"
    new = tmp_path / "new.dtb"
    return [
        ["--version"],
        ["dump", str(pool)],
        ["add-range", str(pool), "0x180000000", "64M", "--dry-run"],
        ["validate", str(pool), "--memmap", str(iomem)],
        ["validate", str(bad), "--memmap", str(iomem)],
        ["validate", str(pool), "--memmap", str(iomem), "--strict", "--json", "--junit", str(tmp_path / "r.xml")],
        ["create", str(new), "--range", "0x100000000", "2M"],
        ["add-range", str(new), "0x180000000", "64M"],
        ["dump", "--json", str(new)],
        ["kho", "dump", str(EXAMPLES / "kho" / "out")],  # a subpackage of pmpoolctl
    ]


@pytest.mark.parametrize("minor", MINORS)
def test_pyz_runs_with_nothing_installed(pyz: Path, minor: str, tmp_path: Path) -> None:
    python = need(minor)
    expected, actual = tmp_path / "installed", tmp_path / "pyz"
    for work in (expected, actual):
        work.mkdir()
    for installed_args, pyz_args in zip(demo_commands(expected), demo_commands(actual)):
        ran = run_cli(installed_args)
        proc = subprocess.run([python, "-I", "-S", str(pyz), *pyz_args], capture_output=True, text=True, check=False)
        assert (proc.returncode, proc.stderr) == (ran.exit_code, ran.stderr), pyz_args
        assert proc.stdout.replace(str(actual), str(expected)) == ran.stdout, pyz_args
    assert (actual / "new.dtb").read_bytes() == (expected / "new.dtb").read_bytes()


@pytest.mark.parametrize("minor", MINORS)
def test_pyz_starts_from_its_bytecode_for_each_python(pyz: Path, minor: str) -> None:
    """Every module a run imports comes from the bytecode tree for the running python: nothing is compiled."""
    python = need(minor)
    proc = subprocess.run([python, "-I", "-S", "-v", str(pyz), "--version"], capture_output=True, text=True, check=True)
    imports = dict(re.findall(r"^import '([\w.]+)' # (.*)$", proc.stderr, re.M))
    tag = f"cpython-{minor.replace('.', '')}"
    ours = {name: where for name, where in imports.items() if name.split(".")[0] in ("pmpoolctl", "click")}
    assert "pmpoolctl.cli" in ours and "click.core" in ours
    for name, where in ours.items():
        assert f"{pyz}/bytecode/{tag}/" in where, (name, where)


def test_pyz_uses_its_own_packages_whatever_is_installed(pyz: Path, tmp_path: Path) -> None:
    """A click on PYTHONPATH, and this environment's site-packages, are never what the pyz imports."""
    (tmp_path / "click").mkdir()
    (tmp_path / "click" / "__init__.py").write_text("raise SystemExit('the wrong click')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-v", str(pyz), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == f"pmpoolctl, version {__version__}\n"
    assert re.search(rf"^import 'click' # <zipimporter object \"{re.escape(str(pyz))}/", proc.stderr, re.M)


def test_pyz_runs_as_a_command(pyz: Path) -> None:
    """Its first line is `#!/usr/bin/env python3`, and it is executable: install it as /usr/local/bin/pmpoolctl."""
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n") and os.access(pyz, os.X_OK)
    link = pyz.parent / "pmpoolctl"
    link.symlink_to(pyz)
    proc = subprocess.run([str(link), "--version"], capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stdout) == (0, f"pmpoolctl, version {__version__}\n"), proc.stderr


def test_pyz_on_an_older_python_says_what_it_needs(pyz: Path) -> None:
    python = interpreter("3.9")
    if python is None:
        pytest.skip("no python3.9 on this machine")
    proc = subprocess.run([python, "-I", "-S", str(pyz), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 70
    assert proc.stderr.startswith("error: pmpoolctl needs Python 3.10 or newer; ") and proc.stderr.count("\n") == 1


def test_pyz_holds_the_pinned_packages_and_their_licences(pyz: Path) -> None:
    names = set(zipfile.ZipFile(pyz).namelist())
    modules = {f"site/{p.relative_to(REPO).as_posix()}" for p in (REPO / "pmpoolctl").rglob("*.py")}
    assert "site/pmpoolctl/kho/__init__.py" in modules  # subpackages too
    assert modules <= names, modules - names
    assert f"site/pmpoolctl-{__version__}.dist-info/LICENSE" in names
    pins = load_script(REPO / "tools" / "build_pyz.py").pinned_wheels(REPO / "tools" / "pyz-requirements.txt")
    for name, (version, _) in pins.items():
        (info,) = {n.split("/")[1] for n in names if n.lower().startswith(f"site/{name}-{version}.dist-info/")}
        licences = [n for n in names if n.startswith(f"site/{info}/") and re.search(r"LICEN[CS]E|COPYING", n)]
        assert licences, f"{name}: no licence file in the pyz"
    assert {"click", "fdt", "markdown_it_py", "mdurl", "pygments", "rich"} == set(pins)


def test_pyz_is_reproducible_and_its_sha256_printed(pyz_wheels: Path, tmp_path: Path) -> None:
    """Two builds from the same wheels (copied anew, other timestamps) with the same interpreter: the same bytes."""
    outputs = []
    for attempt in ("a", "b"):
        copy = tmp_path / f"wheels-{attempt}"
        shutil.copytree(pyz_wheels, copy, copy_function=shutil.copy if attempt == "b" else shutil.copy2)
        out = tmp_path / attempt / "pmpoolctl.pyz"
        run = build(copy, out, [sys.executable])
        assert run.returncode == 0, run.stderr
        digest = hashlib.sha256(out.read_bytes()).hexdigest()
        assert f"{digest}  {out}\n" in run.stdout
        assert (out.parent / "pmpoolctl.pyz.sha256").read_text() == f"{digest}  pmpoolctl.pyz\n"
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_builder_refuses_a_wheel_that_is_not_the_pinned_one(pyz_wheels: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "wheels"
    shutil.copytree(pyz_wheels, tampered)
    (rich,) = tampered.glob("rich-*.whl")
    rich.write_bytes(rich.read_bytes() + b"\0")
    run = build(tampered, tmp_path / "pmpoolctl.pyz", [])
    assert run.returncode == 1 and "is not the one pinned" in run.stderr
    rich.unlink()
    run = build(tampered, tmp_path / "pmpoolctl.pyz", [])
    assert run.returncode == 1 and "0 wheels of rich" in run.stderr
    assert not (tmp_path / "pmpoolctl.pyz").exists()
