"""The recipes in examples/ci/ run as shipped, against fixtures."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import DATA, run_cli

ROOT = Path(__file__).parent.parent
HOOK = ROOT / "examples" / "ci" / "pre-kexec-check"
IOMEM = DATA / "memmap" / "iomem.txt"


@pytest.fixture
def fake_kexec(tmp_path: Path) -> Path:
    """A `kexec` on PATH that records its arguments instead of rebooting anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kexec = bin_dir / "kexec"
    kexec.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "kexec-called"}\n')
    kexec.chmod(0o755)
    return bin_dir


def run_hook(tmp_path: Path, bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        PMPOOLCTL=f"{sys.executable} -m pmpoolctl",
        PMPOOLCTL_JUNIT=str(tmp_path / "reports" / "pre-kexec.xml"),
        PMPOOLCTL_MEMMAP=f"--memmap {IOMEM}",
    )
    return subprocess.run(["sh", str(HOOK), *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False)


def make_blob(tmp_path: Path, base: str) -> Path:
    blob = tmp_path / "next.dtb"
    assert run_cli(["create", str(blob), "--force", "--range", base, "2M"]).exit_code == 0
    return blob


def test_hook_runs_kexec_after_a_clean_validation(tmp_path: Path, fake_kexec: Path) -> None:
    blob = make_blob(tmp_path, "0x100000000")
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "kexec-called").read_text() == "-l /boot/vmlinuz\n"
    suite = ET.parse(tmp_path / "reports" / "pre-kexec.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"


def test_hook_refuses_kexec_for_a_range_over_the_kernel(tmp_path: Path, fake_kexec: Path) -> None:
    blob = make_blob(tmp_path, "0x1000000")  # Kernel code starts here in the captured iomem
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz")
    assert proc.returncode == 1
    assert "kexec refused" in proc.stderr
    assert "range-in-kernel" in proc.stdout
    assert not (tmp_path / "kexec-called").exists()
    suite = ET.parse(tmp_path / "reports" / "pre-kexec.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_hook_refuses_a_corrupt_blob(tmp_path: Path, fake_kexec: Path) -> None:
    blob = tmp_path / "next.dtb"
    blob.write_bytes(b"not a blob at all, just text")
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")
    assert not (tmp_path / "kexec-called").exists()


def test_hook_without_arguments_is_a_usage_error(tmp_path: Path, fake_kexec: Path) -> None:
    assert run_hook(tmp_path, fake_kexec).returncode == 2


def test_github_actions_validate_step_runs(tmp_path: Path) -> None:
    workflow = (ROOT / "examples" / "ci" / "github-actions.yml").read_text()
    step = re.search(r"- run: (pmpoolctl validate .*)", workflow)
    assert step is not None
    blob = make_blob(tmp_path, "0x100000000")
    shutil.copy(IOMEM, tmp_path / "iomem.txt")
    command = step.group(1).replace('"$BLOB"', str(blob)).replace('"$MEMMAP"', str(tmp_path / "iomem.txt"))
    args = shlex.split(command)[1:]
    proc = subprocess.run(
        [sys.executable, "-m", "pmpoolctl", *args], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "pmpool-report.xml").exists()
