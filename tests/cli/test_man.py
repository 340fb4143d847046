"""The man pages in man/ (tools/gen_man.py, make man): current, one per command, and read by groff without a warning."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pmpoolctl.cli.exitcodes import MEANINGS
from tests.conftest import load_script, required

REPO = Path(__file__).parents[2]
MAN = REPO / "man"
GEN = load_script(REPO / "tools" / "gen_man.py")


def test_man_pages_are_what_the_commands_say() -> None:
    """A help text changed without `make man` fails here (as docs/cli.md does in test_docs)."""
    stale = load_script(REPO / "tools" / "generated.py").stale(GEN.OUTPUT)
    assert stale == [], "man/ is stale: run `make man` and commit it"


def test_one_page_for_each_command() -> None:
    pages = GEN.walk()
    expected = {f"{page.path.replace(' ', '-')}.1" for page in pages}
    assert {path.name for path in MAN.glob("*.1")} == expected
    assert {"pmpoolctl.1", "pmpoolctl-validate.1", "pmpoolctl-kho-dump.1"} <= expected


def render(page: Path) -> subprocess.CompletedProcess[str]:
    """The page as groff prints it for a terminal (plain text: no bold, underline or colour), with every warning."""
    groff = required(shutil.which("groff"), "groff", "apt-get install groff-base")
    command = [groff, "-man", "-Tutf8", "-ww", "-P-cbou", str(page)]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C.UTF-8"}, check=False)


@pytest.mark.parametrize("page", sorted(MAN.glob("*.1")), ids=lambda page: page.name)
def test_page_renders_without_warnings(page: Path) -> None:
    rendered = render(page)
    assert rendered.returncode == 0 and rendered.stderr == "", rendered.stderr
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "SEE ALSO"):
        assert f"\n{heading}\n" in rendered.stdout, (page.name, heading)


def test_pmpoolctl_1_has_the_exit_status_and_every_commands_examples() -> None:
    text = render(MAN / "pmpoolctl.1").stdout
    status = text.split("\nEXIT STATUS\n")[1].split("\nSEE ALSO\n")[0]
    flat = " ".join(status.split())
    for code, meaning in MEANINGS.items():
        assert f"{code} {' '.join(meaning.split())}" in flat, code
    examples = text.split("\nEXAMPLES\n")[1].split("\nEXIT STATUS\n")[0]
    for page in GEN.walk():
        for line in GEN.help_blocks(page.command)[1]:
            assert f"       {line}\n" in examples, line  # verbatim: quotes, backslashes and all


def test_each_command_page_shows_its_own_examples_verbatim() -> None:
    text = render(MAN / "pmpoolctl-add-range.1").stdout
    assert "printf '0x200000000 2M\\n0x300000000 4M\\n' | pmpoolctl add-range pool.dtb --from -\n" in text
    assert "--dry-run" in text and "SEE ALSO\n       pmpoolctl(1)" in text


def test_escape_keeps_roff_requests_and_escapes_out_of_text() -> None:
    assert GEN.escape(".SH not a heading\n'also not") == "\\&.SH not a heading\n\\&'also not"
    assert GEN.escape("a\\nb --x é") == "a\\enb \\-\\-x \\[u00E9]"
