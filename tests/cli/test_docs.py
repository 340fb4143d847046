"""The command line as users meet it: generated docs current, examples valid, completion, `python -m`."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pmpoolctl import __version__
from pmpoolctl.cli import cli
from tests.conftest import load_script, required

REPO = Path(__file__).parents[2]


def test_docs_cli_md_is_what_help_says() -> None:
    """docs/cli.md is regenerated from --help (make docs); a help text changed without it fails here."""
    expected = load_script(REPO / "tools" / "gen_cli_md.py").render()
    actual = (REPO / "docs" / "cli.md").read_text()
    assert actual == expected, "docs/cli.md is stale: run `make docs` and commit it"


def commands() -> list[tuple[str, click.Command]]:
    """Every command and group, by its path after `pmpoolctl` ("" for pmpoolctl itself, "kho dump")."""
    generated = load_script(REPO / "tools" / "generated.py")
    return [(entry.path.removeprefix("pmpoolctl").strip(), entry.command) for entry in generated.walk()]


def example_lines(command: click.Command) -> list[str]:
    """The lines under `Example:` in a command's help."""
    text = command.help or ""
    _, _, examples = text.partition("Example:")
    return [line.strip() for line in examples.splitlines() if line.strip().startswith("pmpoolctl")]


@pytest.mark.parametrize(("name", "command"), commands(), ids=lambda value: value if isinstance(value, str) else "")
def test_every_command_has_examples_that_parse(name: str, command: click.Command) -> None:
    """Each example's pmpoolctl part parses: its command, flags and arguments exist (nothing is run)."""
    lines = example_lines(command)
    assert lines, f"pmpoolctl {name} --help has no Example: section"
    for line in lines:
        argv = shlex.split(re.split(r"\s(?:\|\|?|&&|;)\s", line)[0])[1:]  # pmpoolctl's part, before | || && ;
        if name:
            assert " ".join(argv).startswith(name), line
        with contextlib.ExitStack() as stack:
            current: click.Command = cli
            ctx = stack.enter_context(cli.make_context("pmpoolctl", list(argv)))
            while isinstance(current, click.Group):
                # click 8.1 keeps the command's name apart in protected_args; 8.2+ in _protected_args
                rest = [*(ctx.__dict__.get("protected_args") or ctx.__dict__.get("_protected_args") or []), *ctx.args]
                if not rest:
                    break
                sub = current.get_command(ctx, rest[0])
                assert sub is not None, line
                current = sub
                ctx = stack.enter_context(current.make_context(rest[0], rest[1:], parent=ctx))


def test_completion_scripts_for_bash_zsh_and_fish() -> None:
    exe = shutil.which("pmpoolctl", path=str(Path(sys.executable).parent))
    assert exe is not None, "pmpoolctl is not installed beside this python"
    markers = {"bash": "complete -o nosort -F", "zsh": "#compdef pmpoolctl", "fish": "--command pmpoolctl"}
    for shell, marker in markers.items():
        env = {**os.environ, "_PMPOOLCTL_COMPLETE": f"{shell}_source"}
        script = subprocess.run([exe], env=env, capture_output=True, text=True, check=True).stdout
        assert marker in script, (shell, script[:200])
    # what bash asks when the user presses tab, and what it gets
    env = {**os.environ, "_PMPOOLCTL_COMPLETE": "bash_complete", "COMP_WORDS": "pmpoolctl d", "COMP_CWORD": "1"}
    answer = subprocess.run([exe], env=env, capture_output=True, text=True, check=True).stdout
    assert answer.split() == ["plain,diff", "plain,dump"]
    env |= {"COMP_WORDS": "pmpoolctl validate next.dtb --memmap-format ", "COMP_CWORD": "4"}
    answer = subprocess.run([exe], env=env, capture_output=True, text=True, check=True).stdout
    assert "plain,firmware-memmap" in answer.split()
    env |= {"COMP_WORDS": "pmpoolctl dump ", "COMP_CWORD": "2"}
    assert subprocess.run([exe], env=env, capture_output=True, text=True, check=True).stdout.startswith("file,")


def test_bash_loads_the_completion_script() -> None:
    bash = shutil.which("bash")
    assert bash is not None
    exe_dir = str(Path(sys.executable).parent)
    loaded = subprocess.run(
        [bash, "-c", 'eval "$(_PMPOOLCTL_COMPLETE=bash_source pmpoolctl)" && complete -p pmpoolctl'],
        env={**os.environ, "PATH": exe_dir + os.pathsep + os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.search(r"-F _pmpoolctl_completion pmpoolctl$", loaded.stdout.strip()), loaded.stdout


def test_readme_shows_completion_for_every_shell() -> None:
    readme = (REPO / "README.md").read_text()
    for shell in ("bash", "zsh", "fish"):
        assert f"_PMPOOLCTL_COMPLETE={shell}_source" in readme, shell
    for file, installed in COMPLETION_FILES.items():  # where packages put them
        assert re.search(rf"completions/{re.escape(file)} +{re.escape(installed)}", readme), installed


# completions/, committed for packagers, and the standard place of each file.
COMPLETION_FILES = {
    "pmpoolctl.bash": "/usr/share/bash-completion/completions/pmpoolctl",
    "_pmpoolctl": "/usr/share/zsh/site-functions/_pmpoolctl",
    "pmpoolctl.fish": "/usr/share/fish/vendor_completions.d/pmpoolctl.fish",
}
# Each file loaded as its shell loads an installed one, asked for `pmpoolctl d<TAB>`. zsh: autoloaded from
# fpath, with the two builtins that would draw the menu replaced by printing what they were given.
COMPLETE_IN_SHELL = {
    "bash": "source {file}; COMP_WORDS=(pmpoolctl d); COMP_CWORD=1; _pmpoolctl_completion pmpoolctl; "
    'printf "%s\\n" "${{COMPREPLY[@]}}"',
    "zsh": 'fpath=({dir} $fpath); autoload -Uz _pmpoolctl; _describe() {{ print -rl -- "${{(@P)3}}" }}; '
    'compadd() {{ print -rl -- "${{(@P)5}}" }}; words=(pmpoolctl d); CURRENT=2; _pmpoolctl',
    "fish": 'source {file}; complete -C"pmpoolctl d"',
}


GEN_COMPLETIONS = load_script(REPO / "tools" / "gen_completions.py")


def test_completion_files_are_what_click_writes() -> None:
    """completions/ is regenerated by `make completions`; a click whose scripts differ fails here."""
    assert set(GEN_COMPLETIONS.FILES.values()) == set(COMPLETION_FILES)
    stale = load_script(REPO / "tools" / "generated.py").stale(GEN_COMPLETIONS.OUTPUT)
    assert stale == [], "completions/ is stale: run `make completions` and commit it"


@pytest.mark.parametrize("shell", sorted(COMPLETE_IN_SHELL))
def test_completion_file_completes_in_its_shell(shell: str) -> None:
    program = required(shutil.which(shell), shell, f"apt-get install {shell}")
    file = REPO / "completions" / GEN_COMPLETIONS.FILES[shell]
    script = COMPLETE_IN_SHELL[shell].format(file=shlex.quote(str(file)), dir=shlex.quote(str(file.parent)))
    flags = {"bash": ["--norc"], "zsh": ["-f"], "fish": ["--no-config"]}[shell]
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([program, *flags, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [re.split(r"[:\t]", line)[0] for line in proc.stdout.splitlines()] == ["diff", "dump"], proc.stdout


def test_python_dash_m_is_the_same_program() -> None:
    run = subprocess.run([sys.executable, "-m", "pmpoolctl", "--version"], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout) == (0, f"pmpoolctl, version {__version__}\n")
    run = subprocess.run([sys.executable, "-m", "pmpoolctl", "nonsense"], capture_output=True, text=True, check=False)
    assert run.returncode == 2 and run.stderr.startswith("error: No such command 'nonsense'")


def test_the_readme_rule_table_is_the_registry() -> None:
    """The rule ids, severities and summaries have one home (check/rules.py); the README shows that table."""
    import re

    from pmpoolctl.check.rules import RULES

    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (error|warning) \| (.*) \|$", readme, re.M)
    assert rows == [(rule.id, rule.severity.value, rule.summary) for rule in RULES]


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(markdown: str) -> set[str]:
    """The fragments of a page's headings, as GitHub makes them (tools/gen_cli_md.anchor), fenced code skipped."""
    anchor = load_script(REPO / "tools" / "gen_cli_md.py").anchor
    found, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.add(anchor(line.lstrip("#")))
    return found


@pytest.mark.parametrize(
    "page", ["README.md", "docs/cli.md", "docs/design.md", "docs/binding.md", "examples/ci/README.md"]
)
def test_links_point_at_files_and_sections_that_exist(page: str) -> None:
    path = REPO / page
    for target in LINK.findall(path.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, fragment = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{page}: {target}: no such file"
        if fragment:
            assert f"#{fragment}" in _anchors(linked.read_text()), f"{page}: {target}: no such section"
