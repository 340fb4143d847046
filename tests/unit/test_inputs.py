"""files.inputs.open_input under a Ctrl-C: the interrupt is what rises, and no descriptor is left or closed twice.

A SIGINT 120 ms into a run once ended as `error: ...: cannot read: Bad file descriptor`, exit 3:
the interrupt arrived inside os.fdopen, after the file object owned the descriptor, and the
cleanup closed it a second time (EBADF replaced the KeyboardInterrupt). open_input now lets
open() own the descriptor from the start (no os.fdopen window is left to test); these tests
hold the rest of the function to the same property, and test_verdict's SIGINT sweep the whole.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pmpoolctl.errors import InputError
from pmpoolctl.files import inputs


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("where", ["fstat", "set_blocking"])
def test_an_interrupt_while_opening_rises_as_itself_and_leaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    target = tmp_path / "map.txt"
    target.write_text("00000000-00000fff : Reserved\n")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    before = _open_fds()
    monkeypatch.setattr(os, where, interrupted)  # as inputs calls it: os.fstat, os.set_blocking
    with pytest.raises(KeyboardInterrupt):
        inputs.open_input(str(target))
    monkeypatch.undo()
    assert _open_fds() == before


def test_a_directory_and_a_fifo_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory, not a file to read"):
        inputs.open_input(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="a FIFO, which would block"):
        inputs.open_input(str(fifo))
