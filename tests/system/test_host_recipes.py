"""The host recipes of examples/ci: the kernel-install plugin run as kernel-install runs it (fake
arguments, a fake kernel image), and the Prometheus service and timer parsed as systemd reads them and
their command run with the checkout's pmpoolctl."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import required
from tests.system.test_ci_recipes import CI, EXAMPLE_IOMEM, GOOD_BLOB, SH, exec_words, junit_failures, parse_unit

PLUGIN = CI / "05-pmpool-check.install"
SERVICE = CI / "pmpool-metrics.service"
TIMER = CI / "pmpool-metrics.timer"


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    """A kernel image that holds pmpool-v1 (as a NUL-terminated string, as a real one does) and one that does not."""
    knows = tmp_path / "vmlinux-knows"
    knows.write_bytes(b"\x7fELF" + bytes(4096) + b"pmpool-v1\x00" + bytes(4096))
    lacks = tmp_path / "vmlinux-lacks"
    lacks.write_bytes(b"\x7fELF" + bytes(8192))
    return knows, lacks


def run_plugin(tmp_path: Path, *args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PMPOOLCTL": f"{sys.executable} -m pmpoolctl",
        "PMPOOLCTL_MEMMAP": f"--memmap {EXAMPLE_IOMEM}",
        "PMPOOLCTL_JUNIT": str(tmp_path / "log" / "kernel-install.xml"),
        "PMPOOL_BLOB": str(GOOD_BLOB),
        "PMPOOL_KERNEL_INSTALL_CONFIG": str(tmp_path / "no-config"),
        **env_overrides,
    }
    cwd = Path(__file__).parents[2]
    return subprocess.run([SH, str(PLUGIN), *args], capture_output=True, text=True, env=env, cwd=cwd, check=False)


def add(tmp_path: Path, image: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`kernel-install add 6.12.9 /boot/vmlinuz-6.12.9` calls each plugin as: add VERSION ENTRY_DIR IMAGE [INITRD]."""
    entry = tmp_path / "boot" / "machine-id" / "6.12.9"
    return run_plugin(tmp_path, "add", "6.12.9", str(entry), str(image), str(tmp_path / "initrd.img"), **env)


def test_the_plugin_passes_a_good_blob_for_a_kernel_that_knows_the_pool(
    tmp_path: Path, images: tuple[Path, Path]
) -> None:
    proc = add(tmp_path, images[0])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert junit_failures(tmp_path / "log" / "kernel-install.xml") == 0
    assert "passes for kernel 6.12.9" in proc.stderr


def test_the_plugin_stops_the_install_for_a_kernel_that_does_not(tmp_path: Path, images: tuple[Path, Path]) -> None:
    proc = add(tmp_path, images[1])
    assert proc.returncode == 77, proc.stdout + proc.stderr
    assert "abi-unknown-to-next-kernel" in proc.stdout and "install stopped" in proc.stderr


def test_the_plugin_stops_the_install_for_a_bad_blob(tmp_path: Path, images: tuple[Path, Path]) -> None:
    proc = add(tmp_path, images[0], PMPOOL_BLOB=str(GOOD_BLOB.parent / "bad-pool.dtb"))
    assert proc.returncode == 77 and "install stopped" in proc.stderr
    assert junit_failures(tmp_path / "log" / "kernel-install.xml") == 3


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PMPOOL_BLOB": "/nonexistent/next.dtb"}, "no pool blob"),
        ({"PMPOOLCTL": "pmpoolctl-not-installed"}, "pmpoolctl not found"),
        ({"PMPOOLCTL_MEMMAP": "--memmap /nonexistent/iomem"}, "could not check"),
        ({"PMPOOLCTL_MEMMAP": "--no-such-option"}, "pmpoolctl failed (exit 2"),
    ],
)
def test_the_plugin_never_installs_unchecked(
    tmp_path: Path, images: tuple[Path, Path], env: dict[str, str], needle: str
) -> None:
    proc = add(tmp_path, images[0], **env)
    assert proc.returncode == 77, proc.stdout + proc.stderr
    assert needle in proc.stderr


def test_other_commands_pass_and_bad_arguments_stop(tmp_path: Path, images: tuple[Path, Path]) -> None:
    assert run_plugin(tmp_path, "remove", "6.12.9", str(tmp_path)).returncode == 0
    assert run_plugin(tmp_path, "inspect").returncode == 0
    assert run_plugin(tmp_path, "add", "6.12.9").returncode == 77


def test_the_plugin_reads_its_settings_file(tmp_path: Path, images: tuple[Path, Path]) -> None:
    config = tmp_path / "pmpool-kernel-install"
    config.write_text(f"PMPOOL_BLOB={shlex.quote(str(GOOD_BLOB.parent / 'bad-pool.dtb'))}\n")
    proc = add(tmp_path, images[0], PMPOOL_KERNEL_INSTALL_CONFIG=str(config))
    assert proc.returncode == 77


def test_the_plugin_is_installable_as_kernel_install_names_plugins() -> None:
    assert PLUGIN.name.endswith(".install") and os.access(PLUGIN, os.X_OK)
    assert PLUGIN.name < "50-", "runs before the initrd and boot loader entry plugins"
    readme = (CI / "README.md").read_text()
    assert f"install -m 0755 examples/ci/{PLUGIN.name} /etc/kernel/install.d/{PLUGIN.name}" in readme


# --- the Prometheus service and timer ---------------------------------------------------------------


def test_metrics_units_verify(tmp_path: Path) -> None:
    """systemd-analyze verify: systemd reads both units without a complaint about them."""
    import shutil

    analyze = required(shutil.which("systemd-analyze"), "systemd-analyze", "apt-get install systemd")
    fake = tmp_path / "pmpoolctl"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    for unit in (SERVICE, TIMER):
        (tmp_path / unit.name).write_text(unit.read_text().replace("/usr/local/bin/pmpoolctl", str(fake)))
    proc = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert SERVICE.name not in output and TIMER.name not in output, output


def test_metrics_units_structure() -> None:
    service = parse_unit(SERVICE.read_text())
    settings = dict(service["Service"])
    assert settings["Type"] == "oneshot" and settings["SuccessExitStatus"] == "1"
    words = exec_words(settings["ExecStart"])
    assert words[:4] == ["/usr/local/bin/pmpoolctl", "--quiet", "validate", "/run/pmpool/next.dtb"]
    metrics = words[words.index("--metrics") + 1]
    assert metrics.endswith(".prom") and settings["ReadWritePaths"] == str(Path(metrics).parent)
    timer = parse_unit(TIMER.read_text())
    assert dict(timer["Timer"])["OnUnitActiveSec"] and dict(timer["Install"])["WantedBy"] == "timers.target"


def test_metrics_service_command_writes_a_textfile(tmp_path: Path) -> None:
    words = exec_words(dict(parse_unit(SERVICE.read_text())["Service"])["ExecStart"])
    prom = tmp_path / "pmpool.prom"
    words = [sys.executable, "-m", "pmpoolctl", *words[1:]]
    words[words.index("/run/pmpool/next.dtb")] = str(GOOD_BLOB)
    words[words.index("--metrics") + 1] = str(prom)
    live = words.index("--live")
    words[live : live + 1] = ["--memmap", str(EXAMPLE_IOMEM)]  # the live map of this test machine is not the blob's
    proc = subprocess.run(words, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr  # --quiet: the textfile is the output
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert families["pmpool_validate_ok"].samples[0].value == 1
    assert {"pmpool_findings", "pmpool_ranges", "pmpool_bytes", "pmpool_validate_timestamp_seconds"} <= set(families)
