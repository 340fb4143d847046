"""The architecture as tests: the layers import only downwards, and each fact has one home.

Every module's imports are read from its source (function-level imports included, as the
commands import what they run where they run it), so a layer that reaches up fails here
before it ships.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pmpoolctl.check.rules import RULE_IDS, RULES
from pmpoolctl.dtb.format import HEADER_FIELDS, HEADER_SHOWN
from pmpoolctl.dtb.model import Header

PACKAGE = Path(__file__).resolve().parents[2] / "pmpoolctl"
LIBRARY = ("ranges", "files", "dtb", "pool", "memmap", "check", "kho")  # never output, cli, click or rich
FOUNDATION = ("errors", "numbers", "text", "buffers")  # the stdlib only


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


MODULES = modules()


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) in LIBRARY or layer(n) in FOUNDATION))
def test_the_library_never_imports_output_cli_click_or_rich(name: str) -> None:
    banned = ("pmpoolctl.output", "pmpoolctl.cli", "pmpoolctl.api", "click", "rich")
    reached = {i for i in imports_of(MODULES[name]) if i.split(".")[0] in ("click", "rich") or i.startswith(banned)}
    assert reached == set(), f"{name} imports {sorted(reached)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) in FOUNDATION))
def test_the_foundation_imports_only_the_stdlib_and_errors(name: str) -> None:
    ours = {i for i in imports_of(MODULES[name]) if i.startswith("pmpoolctl")}
    assert all(i == "pmpoolctl.errors" or i.startswith("pmpoolctl.errors.") for i in ours), f"{name}: {sorted(ours)}"


def test_only_the_writer_imports_fdt_and_only_the_console_imports_rich() -> None:
    fdt_users = sorted(n for n, p in MODULES.items() if any(i.split(".")[0] == "fdt" for i in imports_of(p)))
    rich_users = sorted(n for n, p in MODULES.items() if any(i.split(".")[0] == "rich" for i in imports_of(p)))
    assert fdt_users == ["pmpoolctl.dtb.writer"]
    assert rich_users == ["pmpoolctl.output.console"]


def test_the_ranges_layer_stands_alone() -> None:
    """Half-open ranges and their arrays know nothing of blobs, pools or maps."""
    for name in (n for n in MODULES if layer(n) == "ranges"):
        ours = {i for i in imports_of(MODULES[name]) if i.startswith("pmpoolctl")}
        assert all(i.startswith(("pmpoolctl.ranges", "pmpoolctl.numbers", "pmpoolctl.buffers", "pmpoolctl.errors"))
                   for i in ours), (name, sorted(ours))  # fmt: skip


def test_a_small_dump_imports_what_it_needs_and_no_more() -> None:
    """Start-up is most of a small command's time: a dump of a small blob loads this set of modules."""
    code = (
        "import sys\n"
        "from pmpoolctl.__main__ import main\n"
        "sys.argv = ['pmpoolctl', 'dump', 'examples/pool.dtb']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('pmpoolctl', 'rich', 'fdt')))), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, check=False, timeout=60
    )
    loaded = set(proc.stderr.split())
    assert not any(m.split(".")[0] in ("rich", "fdt") for m in loaded), sorted(
        loaded
    )  # a pipe: no rich; a read: no fdt
    assert not loaded & {"pmpoolctl.check.validate", "pmpoolctl.memmap.model", "pmpoolctl.kho.tree"}
    # The command calls the api, whose import is cheap: what a use case needs is imported when it runs.
    assert {"pmpoolctl.api", "pmpoolctl.dtb.reader", "pmpoolctl.output.dump", "pmpoolctl.pool.binding"} <= loaded


# --- one home per fact ---------------------------------------------------------------------------------------------


def test_the_header_is_described_once() -> None:
    """The binary layout is format.HEADER_FIELDS; the model holds those words, and what is shown orders them."""
    assert [f.name for f in dataclasses.fields(Header)] == [n for n in HEADER_FIELDS if n != "magic"]
    assert sorted(HEADER_SHOWN) == sorted(n for n in HEADER_FIELDS if n != "magic")


def test_the_rule_ids_are_registered_once() -> None:
    assert len(set(RULE_IDS)) == len(RULES)
    sources = "\n".join(p.read_text() for n, p in MODULES.items() if n != "pmpoolctl.check.rules")
    assert "Finding(" not in sources.replace("class Finding(", "").replace("-> Finding(", ""), (
        "findings are made with check.rules.finding, which takes the severity from the registry"
    )


# --- the CLI is a shell over the api --------------------------------------------------------------------------------

CLI_SOURCES = {n: p.read_text() for n, p in MODULES.items() if layer(n) == "cli"}


def test_the_cli_uses_no_private_click_api_and_leaves_sys_stdout_alone() -> None:
    """--quiet sends output to the run's /dev/null (cli.context.Run.stdout); nothing swaps the process's streams."""
    for name, text in CLI_SOURCES.items():
        assert "_main_shell_completion" not in text and "click._" not in text, name
        assert "sys.stdout =" not in text, name


def test_exit_codes_come_from_exitcodes_only() -> None:
    """No command returns a bare number: every exit code is named in cli/exitcodes (and explained there)."""
    bare = re.compile(r"\breturn (?:[0-9]+|EXIT_\w+)\b|\bsys\.exit\([0-9]+\)")
    for name, text in CLI_SOURCES.items():
        assert not bare.findall(text), (name, bare.findall(text))


def test_the_readme_layout_names_every_package() -> None:
    readme = (PACKAGE.parent / "README.md").read_text()
    table = readme[readme.index("## Layout") : readme.index("## Tests")]
    packages = sorted({p.parent.name for p in PACKAGE.rglob("__init__.py")} - {"pmpoolctl"})
    assert [p for p in packages if f"`{p}/`" not in table] == []
    assert "`api.py`" in table
