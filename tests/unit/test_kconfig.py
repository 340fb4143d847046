"""The running kernel's config, read for whether KHO is on by default."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pmpoolctl.errors import InputError
from pmpoolctl.kho.kconfig import MAX_CONFIG_BYTES, config_text, kho_on_by_default


def test_the_first_config_that_reads_decides(tmp_path: Path) -> None:
    on, off, corrupt = tmp_path / "on", tmp_path / "off.gz", tmp_path / "corrupt.gz"
    on.write_text("CONFIG_KEXEC_HANDOVER=y\nCONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y")  # no newline at the end
    off.write_bytes(gzip.compress(b"# CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT is not set\n"))
    corrupt.write_bytes(b"\x1f\x8b\x08\x00 not deflate")
    assert kho_on_by_default((str(tmp_path / "none"), str(corrupt), str(on), str(off))) == (True, str(on))
    assert kho_on_by_default((str(off), str(on))) == (False, str(off))
    assert kho_on_by_default((str(corrupt), str(tmp_path))) is None  # a directory is no config
    assert kho_on_by_default(()) is None


def test_a_config_that_inflates_past_the_limit_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "config.gz"
    bomb.write_bytes(gzip.compress(b"#" * (MAX_CONFIG_BYTES + 1)))
    assert len(bomb.read_bytes()) < 1 << 20
    with pytest.raises(InputError, match="inflates past"):
        config_text(str(bomb))
    assert kho_on_by_default((str(bomb),)) is None
