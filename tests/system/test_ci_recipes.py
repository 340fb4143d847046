"""The recipes in examples/ci/ run as shipped, against fixtures.

The CI jobs (GitHub Actions, GitLab CI) are parsed, their structure checked, and their
shell lines run unchanged in a scratch checkout that holds the example blob and memory
map at the paths the recipes name. The pre-kexec hook and its systemd unit run with a
fake kexec that records its arguments instead of rebooting anything.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TypeAlias

import pytest

from tests.conftest import DATA, run_cli

ROOT = Path(__file__).parents[2]
CI = ROOT / "examples" / "ci"
HOOK = CI / "pre-kexec-check"
UNIT = CI / "pmpool-pre-kexec.service"
IOMEM = DATA / "memmap" / "iomem.txt"
GOOD_BLOB = ROOT / "examples" / "pool.dtb"  # passes against examples/memmap/iomem.txt
BAD_BLOB = ROOT / "examples" / "bad-pool.dtb"  # four error findings against it
EXAMPLE_IOMEM = ROOT / "examples" / "memmap" / "iomem.txt"
SH = shutil.which("sh") or "/bin/sh"


@pytest.fixture
def fake_kexec(tmp_path: Path) -> Path:
    """A `kexec` on PATH that records its arguments instead of rebooting anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kexec = bin_dir / "kexec"
    kexec.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "kexec-called"}\n')
    kexec.chmod(0o755)
    return bin_dir


def run_hook(tmp_path: Path, bin_dir: Path, *args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        PMPOOLCTL=f"{sys.executable} -m pmpoolctl",
        PMPOOLCTL_JUNIT=str(tmp_path / "reports" / "pre-kexec.xml"),
        PMPOOLCTL_MEMMAP=f"--memmap {IOMEM}",
    )
    env.update(env_overrides)
    return subprocess.run([SH, str(HOOK), *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False)


def make_blob(tmp_path: Path, base: str) -> Path:
    blob = tmp_path / "next.dtb"
    assert run_cli(["create", str(blob), "--force", "--range", base, "2M"]).exit_code == 0
    return blob


# The pre-kexec hook


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
    assert "kexec refused" in proc.stderr
    assert not (tmp_path / "kexec-called").exists()


def test_hook_without_arguments_is_a_usage_error(tmp_path: Path, fake_kexec: Path) -> None:
    assert run_hook(tmp_path, fake_kexec).returncode == 2
    assert run_hook(tmp_path, fake_kexec, "").returncode == 2


def test_hook_without_kexec_arguments_only_validates(tmp_path: Path, fake_kexec: Path) -> None:
    assert run_hook(tmp_path, fake_kexec, str(make_blob(tmp_path, "0x100000000"))).returncode == 0
    assert run_hook(tmp_path, fake_kexec, str(make_blob(tmp_path, "0x1000000"))).returncode == 1
    assert not (tmp_path / "kexec-called").exists()


@pytest.mark.parametrize("pmpoolctl", ["pmpoolctl-not-installed", "/nonexistent/bin/pmpoolctl", "not-executable"])
def test_hook_without_pmpoolctl_refuses_kexec_with_127(tmp_path: Path, fake_kexec: Path, pmpoolctl: str) -> None:
    if pmpoolctl == "not-executable":
        pmpoolctl = str(tmp_path / "pmpoolctl")
        Path(pmpoolctl).write_text("#!/bin/sh\n")
        Path(pmpoolctl).chmod(0o644)
    blob = make_blob(tmp_path, "0x100000000")
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz", PMPOOLCTL=pmpoolctl)
    assert proc.returncode == 127, proc.stderr
    assert "pmpoolctl not found" in proc.stderr and "kexec refused" in proc.stderr
    assert not (tmp_path / "kexec-called").exists()


def test_hook_with_a_pmpoolctl_that_cannot_start_refuses_kexec_with_127(tmp_path: Path, fake_kexec: Path) -> None:
    broken = tmp_path / "pmpoolctl"  # a venv's entry point whose interpreter was removed
    broken.write_text("#!/nonexistent/python3\n")
    broken.chmod(0o755)
    blob = make_blob(tmp_path, "0x100000000")
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz", PMPOOLCTL=str(broken))
    assert proc.returncode == 127, proc.stderr
    assert "cannot run pmpoolctl" in proc.stderr
    assert not (tmp_path / "kexec-called").exists()


def test_hook_without_kexec_refuses_before_validating(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # nothing but mkdir: no kexec, wherever the machine has one
    bin_dir.mkdir()
    mkdir = shutil.which("mkdir")
    assert mkdir is not None
    (bin_dir / "mkdir").symlink_to(mkdir)
    blob = make_blob(tmp_path, "0x100000000")
    proc = run_hook(tmp_path, bin_dir, str(blob), "-l", "/boot/vmlinuz", PATH=str(bin_dir))
    assert proc.returncode == 127, proc.stderr
    assert "kexec not found" in proc.stderr
    assert not (tmp_path / "reports").exists()


def test_hook_refuses_kexec_when_the_report_directory_cannot_be_made(tmp_path: Path, fake_kexec: Path) -> None:
    (tmp_path / "a-file").write_text("")  # a directory cannot be made under a file, not even by root
    blob = make_blob(tmp_path, "0x100000000")
    report = tmp_path / "a-file" / "reports" / "pre-kexec.xml"
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz", PMPOOLCTL_JUNIT=str(report))
    assert proc.returncode == 3, proc.stderr
    assert "cannot create the report directory" in proc.stderr and "kexec refused" in proc.stderr
    assert not (tmp_path / "kexec-called").exists()


def test_hook_refuses_kexec_when_pmpoolctl_rejects_the_memmap_arguments(tmp_path: Path, fake_kexec: Path) -> None:
    blob = make_blob(tmp_path, "0x100000000")
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz", PMPOOLCTL_MEMMAP="--memmapp /run/iomem")
    assert proc.returncode == 3, proc.stderr
    assert "not checked" in proc.stderr and "kexec refused" in proc.stderr
    assert not (tmp_path / "kexec-called").exists()


def test_hook_takes_any_blob_name_as_a_file(tmp_path: Path, fake_kexec: Path) -> None:
    """A name that looks like an option, or holds blanks, backslashes or glob characters, is a file name."""
    name = "--help *.dtb \\n"
    shutil.copy(make_blob(tmp_path, "0x100000000"), tmp_path / name)
    proc = subprocess.run(
        [SH, str(HOOK), name, "-l", "/boot/vmlinuz"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        env={
            **os.environ,
            "PATH": f"{fake_kexec}:{os.environ['PATH']}",
            "PMPOOLCTL": f"{sys.executable} -m pmpoolctl",
            "PMPOOLCTL_JUNIT": "pre-kexec.xml",  # a bare file name: the report directory is the current one
            "PMPOOLCTL_MEMMAP": f"--memmap {IOMEM}",
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "pre-kexec.xml").exists()
    assert proc.stdout.startswith(f"{name}: /default_pmpool: ")
    assert (tmp_path / "kexec-called").read_text() == "-l /boot/vmlinuz\n"


# A parser for the YAML the recipes are written in: no YAML library is a dependency. It reads block
# mappings and sequences, plain, quoted and flow-sequence scalars, and comments, and refuses anything
# else (anchors, block scalars, flow mappings, multi-line scalars) so that a recipe edited beyond this
# subset fails here instead of being misread.

Yaml: TypeAlias = "str | list[Yaml] | dict[str, Yaml]"
_KEY = re.compile(r"""(?P<key>[A-Za-z0-9_][A-Za-z0-9_.\-]*|"[^"\\]*"|'[^']*'):(?:[ ]+(?P<value>.*))?""")
_Line = tuple[int, int, str]  # line number, indentation, text


def parse_yaml(text: str) -> Yaml:
    lines: list[_Line] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        indent = len(line) - len(line.lstrip(" "))
        if line[indent] == "\t":
            raise ValueError(f"line {number}: a tab in the indentation")
        lines.append((number, indent, stripped))
    if not lines:
        raise ValueError("an empty document")
    value, end = _yaml_block(lines, 0)
    if end != len(lines):
        raise ValueError(f"line {lines[end][0]}: unexpected indentation")
    return value


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _yaml_block(lines: list[_Line], i: int) -> tuple[Yaml, int]:
    if _is_item(lines[i][2]):
        return _yaml_sequence(lines, i)
    return _yaml_mapping(lines, i)


def _yaml_sequence(lines: list[_Line], i: int) -> tuple[Yaml, int]:
    indent = lines[i][1]
    items: list[Yaml] = []
    while i < len(lines) and lines[i][1] == indent and _is_item(lines[i][2]):
        number, _, text = lines[i]
        rest = text[1:].lstrip(" ")
        if _KEY.fullmatch(rest):  # `- key: value`: a mapping whose first key shares the dash's line
            lines[i] = (number, indent + len(text) - len(rest), rest)
            item, i = _yaml_mapping(lines, i)
        else:
            scalar = _yaml_scalar(rest, number)
            if scalar is None:
                raise ValueError(f"line {number}: an empty sequence item")
            item, i = scalar, i + 1
            if i < len(lines) and lines[i][1] > indent:
                raise ValueError(f"line {lines[i][0]}: unexpected indentation")
        items.append(item)
    return items, i


def _yaml_mapping(lines: list[_Line], i: int) -> tuple[Yaml, int]:
    indent = lines[i][1]
    result: dict[str, Yaml] = {}
    while i < len(lines) and lines[i][1] == indent and not _is_item(lines[i][2]):
        number, _, text = lines[i]
        match = _KEY.fullmatch(text)
        if match is None:
            raise ValueError(f"line {number}: expected `key: value`, got {text!r}")
        key = match["key"].strip("\"'")
        if key in result:
            raise ValueError(f"line {number}: {key!r} given twice")
        value = _yaml_scalar(match["value"] or "", number)
        i += 1
        nested = i < len(lines) and (lines[i][1] > indent or (lines[i][1] == indent and _is_item(lines[i][2])))
        if value is None:
            if not nested:
                raise ValueError(f"line {number}: {key!r} has no value")
            result[key], i = _yaml_block(lines, i)
        elif nested:
            raise ValueError(f"line {lines[i][0]}: unexpected indentation")
        else:
            result[key] = value
    return result, i


def _yaml_scalar(raw: str, number: int) -> Yaml | None:
    """A scalar that ends its line, with the comment after it cut; None when there is none."""
    raw = raw.strip()
    if not raw or raw.startswith("#"):
        return None
    quote = raw[0]
    if quote in "\"'":
        end, chars = 1, []
        while True:
            if end >= len(raw):
                raise ValueError(f"line {number}: an unterminated quoted scalar")
            char = raw[end]
            if char == quote and not (quote == "'" and raw[end + 1 : end + 2] == "'"):
                break
            if quote == '"' and char == "\\":
                if raw[end + 1 : end + 2] not in ('"', "\\"):
                    raise ValueError(f'line {number}: an escape other than \\" or \\\\')
                end += 1
            elif quote == "'" and char == "'":
                end += 1  # '' in single quotes is one '
            chars.append(raw[end])
            end += 1
        if _yaml_scalar(raw[end + 1 :], number) is not None:
            raise ValueError(f"line {number}: text after a quoted scalar")
        return "".join(chars)
    if quote == "[":
        close = raw.find("]")
        if close < 0 or _yaml_scalar(raw[close + 1 :], number) is not None:
            raise ValueError(f"line {number}: a flow sequence must end its line")
        items = [_yaml_scalar(item, number) for item in raw[1:close].split(",")]
        return [item for item in items if item is not None]
    if quote in "&*!|>{%@`":
        raise ValueError(f"line {number}: {raw!r} is beyond the YAML this parser reads")
    comment = re.search(r"\s#", raw)
    return raw[: comment.start()].rstrip() if comment else raw


def as_map(value: Yaml | None) -> dict[str, Yaml]:
    assert isinstance(value, dict), value
    return value


def as_list(value: Yaml | None) -> list[Yaml]:
    assert isinstance(value, list), value
    return value


def as_str(value: Yaml | None) -> str:
    assert isinstance(value, str), value
    return value


def test_yaml_subset_parser() -> None:
    doc = parse_yaml(
        "# comment\n"
        "on: [push, pull_request]   # flow\n"
        "job-1:\n"
        "  variables:\n"
        '    A: "x # not a comment"\n'
        "    B: 'it''s'  # a comment\n"
        "    C: plain # a comment\n"
        "  script:\n"
        '  - run "$A" --flag\n'
        "  - key: value\n"
        "    other: 2\n"
        "  if: always()\n"
    )
    assert doc == {
        "on": ["push", "pull_request"],
        "job-1": {
            "variables": {"A": "x # not a comment", "B": "it's", "C": "plain"},
            "script": ['run "$A" --flag', {"key": "value", "other": "2"}],
            "if": "always()",
        },
    }
    for beyond in ("a: |\n  text\n", "a: &x 1\n", "a: {b: 1}\n", "a: 1\n  b: 2\n", "a:\n", "a: 1\na: 2\n"):
        with pytest.raises(ValueError):
            parse_yaml(beyond)


# The CI jobs: each runs in a scratch checkout that holds a blob, a memory map and the pyz at the paths the
# job names, with the pyz's real sha256 set as the user sets it. Nothing else in them is changed.


def tool_shims(tmp_path: Path, *recorded: str) -> Path:
    """A bin directory for PATH: `pmpoolctl` runs this checkout's, `python3` this python (3.10+, whatever the
    machine's python3 is); each tool in `recorded` only logs its arguments."""
    bin_dir = tmp_path / "shims"
    bin_dir.mkdir(exist_ok=True)
    shims = {
        "pmpoolctl": f'exec {shlex.quote(sys.executable)} -m pmpoolctl "$@"',
        "python3": f'exec {shlex.quote(sys.executable)} "$@"',
    }
    for name in recorded:
        shims[name] = f'printf "%s\\n" "$*" >> {shlex.quote(str(tmp_path / (name + ".log")))}'
    for name, body in shims.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


INSTALLERS = ("pip", "pip3", "pipx", "uv")  # shimmed in the jobs' runs: a job that installs anything fails


def checkout(tmp_path: Path, files: dict[str, Path]) -> Path:
    """A scratch copy of a user's repository holding each file where the job looks (path in the repo: source)."""
    repo = tmp_path / "repo"
    for relative, source in files.items():
        assert not Path(relative).is_absolute(), f"{relative}: the job's default should be a path in the repository"
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    return repo


def junit_failures(report: Path) -> int:
    root = ET.parse(report).getroot()  # raises on XML that is not well-formed
    suite = root.find("testsuite")
    assert suite is not None
    failures = int(suite.get("failures", "-1"))
    assert failures == len(root.findall(".//testcase/failure"))
    return failures


PYZ_CHECK = 'echo "$PMPOOLCTL_SHA256  $PMPOOLCTL_PYZ" | sha256sum --check --strict'


def junit_argument(command: str) -> str:
    """The report of a job's validate line, which runs the pyz it checked, isolated (-I)."""
    words = shlex.split(command)
    assert words[:4] == ["python3", "-I", "$PMPOOLCTL_PYZ", "validate"], command
    assert "--strict" in words and "--memmap" in words, command
    return words[words.index("--junit") + 1]


def html_argument(command: str) -> str:
    """The HTML report of a job's validate line: kept beside the JUnit report."""
    words = shlex.split(command)
    return words[words.index("--html") + 1]


def assert_html_verdict(page: Path, verdict: str) -> None:
    """The job left its HTML report, with the verdict of this run."""
    assert f">{verdict}" in page.read_text(), page.read_text()[:2000]


def job_environment(variables: dict[str, Yaml], pyz: Path, blob: Path, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The job's variables with the pyz's sha256 as a user sets it, PATH with the shims, and the scratch checkout."""
    env = {**os.environ, **{key: as_str(value) for key, value in variables.items()}}
    env["PMPOOLCTL_SHA256"] = hashlib.sha256(pyz.read_bytes()).hexdigest()
    repo = checkout(tmp_path, {env["BLOB"]: blob, env["MEMMAP"]: EXAMPLE_IOMEM, env["PMPOOLCTL_PYZ"]: pyz})
    env["PATH"] = f"{tool_shims(tmp_path, *INSTALLERS)}:{env['PATH']}"
    return env, repo


def installed_nothing(tmp_path: Path) -> bool:
    return not any((tmp_path / f"{name}.log").exists() for name in INSTALLERS)


def github_workflow() -> tuple[dict[str, Yaml], list[dict[str, Yaml]]]:
    doc = as_map(parse_yaml((CI / "github-actions.yml").read_text()))
    assert set(as_list(doc["on"])) >= {"push", "pull_request"}
    job = as_map(as_map(doc["jobs"])["validate-pool"])
    assert as_str(job["runs-on"]).startswith("ubuntu-")
    return job, [as_map(step) for step in as_list(job["steps"])]


def test_github_actions_workflow_structure() -> None:
    job, steps = github_workflow()
    env = as_map(job["env"])
    assert set(env) == {"BLOB", "MEMMAP", "PMPOOLCTL_PYZ", "PMPOOLCTL_SHA256"}
    uses = [as_str(step["uses"]).split("@")[0] for step in steps if "uses" in step]
    assert uses == ["actions/checkout", "actions/upload-artifact"]
    runs = [as_str(step["run"]) for step in steps if "run" in step]
    assert runs[0] == PYZ_CHECK, "the pyz is checked before anything runs it"
    assert len(runs) == 2
    upload = steps[-1]
    assert upload["if"] == "always()"  # the report is uploaded when validation fails too
    kept = as_str(as_map(upload["with"])["path"])
    assert [fnmatch.fnmatch(name, kept) for name in (junit_argument(runs[1]), html_argument(runs[1]))] == [True] * 2
    assert fnmatch.filter(["pmpool-report.xml", "pmpool-report.html", "pool.dtb", "iomem.txt"], kept) == [
        "pmpool-report.xml",
        "pmpool-report.html",
    ]
    for run in runs:
        assert "${{" not in run, "runs as a plain shell line: expressions are not emulated here"


def run_github_steps(tmp_path: Path, pyz: Path, blob: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """The `run:` steps in order, each in `bash -e` (GitHub's default shell), stopping at the first failure."""
    job, steps = github_workflow()
    env, repo = job_environment(as_map(job["env"]), pyz, blob, tmp_path)
    env.update(overrides)
    proc = subprocess.CompletedProcess[str]([], 0, "", "")
    for step in steps:
        if "run" in step:
            command = ["bash", "-e", "-c", as_str(step["run"])]
            proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=repo, check=False)
            if proc.returncode != 0:
                break
    assert installed_nothing(tmp_path)
    return proc


def test_github_actions_steps_pass_a_good_blob(tmp_path: Path, pyz: Path) -> None:
    proc = run_github_steps(tmp_path, pyz, GOOD_BLOB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert junit_failures(tmp_path / "repo" / "pmpool-report.xml") == 0
    assert_html_verdict(tmp_path / "repo" / "pmpool-report.html", "OK: 0 errors")


def test_github_actions_steps_fail_a_bad_blob_and_leave_the_report(tmp_path: Path, pyz: Path) -> None:
    summary = tmp_path / "step-summary.md"  # the runner's $GITHUB_STEP_SUMMARY, empty at the step's start
    summary.touch()
    proc = run_github_steps(tmp_path, pyz, BAD_BLOB, GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert junit_failures(tmp_path / "repo" / "pmpool-report.xml") == 3  # kernel, memreserve, outside-ram
    assert_html_verdict(tmp_path / "repo" / "pmpool-report.html", "FAIL: 3 errors")
    # --github: each finding annotated on the line of the committed map (paths as the checkout has them)
    job, _ = github_workflow()
    memmap, blob = (as_str(as_map(job["env"])[name]) for name in ("MEMMAP", "BLOB"))
    commands = [line.split("::")[1] for line in proc.stdout.splitlines() if line.startswith("::")]
    assert commands == [
        f"error file={memmap},line=7,title=range-in-kernel",
        f"error file={blob},title=range-in-memreserve",
        f"error file={memmap},line=11,title=range-outside-ram",
    ]
    assert summary.read_text().startswith("### pmpoolctl validate: FAIL\n")


def test_github_actions_steps_refuse_a_pyz_that_is_not_the_pinned_one(tmp_path: Path, pyz: Path) -> None:
    """A pyz replaced in the repository, or the sha256 left as shipped: the job fails before anything runs."""
    replaced = tmp_path / "replaced"
    replaced.mkdir()
    other = tmp_path / "other.pyz"
    other.write_bytes(pyz.read_bytes() + b"\n")
    pinned = hashlib.sha256(pyz.read_bytes()).hexdigest()
    proc = run_github_steps(replaced, other, GOOD_BLOB, PMPOOLCTL_SHA256=pinned)
    assert proc.returncode == 1 and "FAILED" in proc.stdout, proc.stdout + proc.stderr
    assert not (replaced / "repo" / "pmpool-report.xml").exists()

    job, _ = github_workflow()
    shipped = tmp_path / "as-shipped"
    shipped.mkdir()
    proc = run_github_steps(shipped, pyz, GOOD_BLOB, PMPOOLCTL_SHA256=as_str(as_map(job["env"])["PMPOOLCTL_SHA256"]))
    assert proc.returncode == 1 and "no properly formatted" in proc.stderr, proc.stdout + proc.stderr
    assert not (shipped / "repo" / "pmpool-report.xml").exists()


def gitlab_job() -> dict[str, Yaml]:
    doc = as_map(parse_yaml((CI / "gitlab-ci.yml").read_text()))
    assert list(doc) == ["pmpool-validate"], "one job and nothing global, so that it can be included unchanged"
    return as_map(doc["pmpool-validate"])


def test_gitlab_ci_job_structure() -> None:
    job = gitlab_job()
    variables = as_map(job["variables"])
    assert set(variables) == {"BLOB", "MEMMAP", "PMPOOLCTL_PYZ", "PMPOOLCTL_SHA256"}
    assert as_str(job["image"]).startswith("python:3")
    script = [as_str(line) for line in as_list(job["script"])]
    assert len(script) == 2
    assert script[0] == PYZ_CHECK, "the pyz is checked before anything runs it"
    report = junit_argument(script[1])
    artifacts = as_map(job["artifacts"])
    assert artifacts["when"] == "always"  # the report is kept, and shown, when validation fails too
    assert as_map(artifacts["reports"])["junit"] == report  # GitLab shows it in the merge request
    assert sorted(map(as_str, as_list(artifacts["paths"]))) == sorted([report, html_argument(script[1])])
    assert artifacts["expose_as"] == "pmpool report"  # the HTML page linked from the merge request


def run_gitlab_script(tmp_path: Path, pyz: Path, blob: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """The job's script as GitLab runs it: its lines in one shell that stops at the first failure."""
    job = gitlab_job()
    env, repo = job_environment(as_map(job["variables"]), pyz, blob, tmp_path)
    env.update(overrides)
    script = "\n".join(as_str(line) for line in as_list(job["script"]))
    proc = subprocess.run([SH, "-e", "-c", script], capture_output=True, text=True, env=env, cwd=repo, check=False)
    assert installed_nothing(tmp_path)
    return proc


def test_gitlab_ci_script_passes_a_good_blob(tmp_path: Path, pyz: Path) -> None:
    proc = run_gitlab_script(tmp_path, pyz, GOOD_BLOB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert junit_failures(tmp_path / "repo" / "pmpool-report.xml") == 0
    assert_html_verdict(tmp_path / "repo" / "pmpool-report.html", "OK: 0 errors")


def test_gitlab_ci_script_fails_a_bad_blob_and_leaves_the_report(tmp_path: Path, pyz: Path) -> None:
    proc = run_gitlab_script(tmp_path, pyz, BAD_BLOB)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "range-in-kernel" in proc.stdout
    assert junit_failures(tmp_path / "repo" / "pmpool-report.xml") == 3  # kernel, memreserve, outside-ram
    assert_html_verdict(tmp_path / "repo" / "pmpool-report.html", "FAIL: 3 errors")


def test_gitlab_ci_script_refuses_a_pyz_that_is_not_the_pinned_one(tmp_path: Path, pyz: Path) -> None:
    shipped = as_str(as_map(gitlab_job()["variables"])["PMPOOLCTL_SHA256"])
    proc = run_gitlab_script(tmp_path, pyz, GOOD_BLOB, PMPOOLCTL_SHA256=shipped)
    assert proc.returncode == 1 and "no properly formatted" in proc.stderr, proc.stdout + proc.stderr
    assert not (tmp_path / "repo" / "pmpool-report.xml").exists()


# No recipe installs a name from a package registry that is not pinned to a version and a hash: whoever
# registers that name (or a new version of it) would run code in every job and on every host that uses it.

RECIPES = [*sorted(p for p in CI.iterdir() if p.is_file()), ROOT / "README.md"]
_INSTALL = re.compile(r"\b(?:pip3?|pipx|uv pip|python3? -m pip)\s+install\b")
# pip options that take a value, so that the value is not read as what is installed
_VALUE_OPTIONS = {
    "-c", "--constraint", "-t", "--target", "--prefix", "--root", "-i", "--index-url", "--extra-index-url",
    "-f", "--find-links", "--python", "--platform", "--python-version", "--implementation", "--abi",
    "--only-binary", "--no-binary", "--cache-dir", "--log", "--src", "--progress-bar", "--global-option",
    "--config-settings", "-C", "--upgrade-strategy", "--report",
}  # fmt: skip


def unpinned_installs(text: str) -> list[str]:
    """The lines of `text` that install something by name without `==VERSION` and a hash."""
    found = []
    for line in text.splitlines():
        match = _INSTALL.search(line)
        if match is None:
            continue
        try:
            words = shlex.split(line[match.end() :], comments=True)
        except ValueError:
            found.append(line)  # unbalanced quotes: not read, so not trusted
            continue
        hashed = "--require-hashes" in words or any(word.startswith("--hash=") for word in words)
        unsafe = False
        skip = False
        for word in words:
            if skip:
                skip = False
            elif word in ("&&", "||", ";", "|") or word.startswith("`"):
                break
            elif word in ("-r", "--requirement"):
                unsafe |= not hashed
                skip = True
            elif word in _VALUE_OPTIONS:
                skip = True
            elif word.startswith("-"):
                continue
            elif "://" in word:
                unsafe |= not hashed and "sha256=" not in word
            elif word.startswith((".", "/", "~")) or "/" in word:
                continue  # a path: nothing is looked up by name
            else:
                unsafe |= not ("==" in word and hashed)
        if unsafe:
            found.append(line.strip())
    return found


def test_unpinned_installs_are_found() -> None:
    unpinned = [
        "pip install pmpoolctl",
        "- run: pip install pmpoolctl     # or: pip install ./path/to/pmpoolctl",
        '- python3 -m pip install --quiet --disable-pip-version-check "$PMPOOLCTL_INSTALL"',
        "pipx install pmpoolctl==0.1.0",
        "pip install 'pmpoolctl>=0.1' --hash=sha256:00",
        "/opt/pmpoolctl/bin/pip install pmpoolctl",
        "uv pip install -r requirements.txt",
        "pip install git+https://example.org/pmpoolctl",
        "pip install --target /opt/x rich",
    ]
    assert unpinned_installs("\n".join(unpinned)) == [line.strip() for line in unpinned]
    pinned = [
        "pip install .",
        "pipx install .          # an isolated install",
        "pip install ./tools/pmpoolctl-0.1.0-py3-none-any.whl",
        "pip install --require-hashes -r requirements.txt",
        "pip install pmpoolctl==0.1.0 --hash=sha256:00 --no-deps",
        "pip install -r reqs.txt --require-hashes",
        "the text says pip installs nothing here",
    ]
    assert unpinned_installs("\n".join(pinned)) == []


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_recipe_installs_an_unpinned_name(recipe: Path) -> None:
    assert unpinned_installs(recipe.read_text()) == []


def test_host_install_lines_check_the_pyz_before_installing_it() -> None:
    readme = (CI / "README.md").read_text()
    check = readme.index('echo "SHA256  pmpoolctl.pyz" | sha256sum --check --strict')
    assert check < readme.index("install -m 0755 pmpoolctl.pyz /usr/local/bin/pmpoolctl")


def test_hook_runs_the_pyz_installed_as_pmpoolctl(tmp_path: Path, fake_kexec: Path, pyz: Path) -> None:
    """The host as the install lines leave it: the pyz on PATH as `pmpoolctl`, the hook's default PMPOOLCTL."""
    shutil.copy(pyz, fake_kexec / "pmpoolctl")
    (fake_kexec / "pmpoolctl").chmod(0o755)
    blob = make_blob(tmp_path, "0x100000000")
    proc = run_hook(tmp_path, fake_kexec, str(blob), "-l", "/boot/vmlinuz", PMPOOLCTL="pmpoolctl")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "kexec-called").read_text() == "-l /boot/vmlinuz\n"
    bad = make_blob(tmp_path, "0x1000000")
    assert run_hook(tmp_path, fake_kexec, str(bad), "-l", "/boot/vmlinuz", PMPOOLCTL="pmpoolctl").returncode == 1


# The systemd unit: parsed as systemd reads it, verified by systemd-analyze where the machine has it,
# and its command lines run with the hook from this checkout and a fake kexec.


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file, each a list of (key, value) in order: Environment= and Exec*= repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    section: list[tuple[str, str]] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        assert not stripped.endswith("\\"), f"line {number}: continuation lines are not read here"
        if stripped.startswith("[") and stripped.endswith("]"):
            section = sections.setdefault(stripped[1:-1], [])
            continue
        key, equals, value = stripped.partition("=")
        assert equals and section is not None, f"line {number}: {line!r}"
        section.append((key.strip(), value.strip()))
    return sections


def exec_words(value: str) -> list[str]:
    """An Exec*= command line as systemd splits it, for what the unit uses: shell-like quoting and `$$` for `$`.

    Anything else systemd would rewrite (a `$VAR`, a `%` specifier, a prefix such as `-` before the command)
    fails the test, so that the lines run here are the lines systemd runs.
    """
    assert "%" not in value, value
    words = shlex.split(value)
    for word in words:
        assert "$" not in word.replace("$$", ""), f"{word!r}: systemd would expand it"
    assert words[0].startswith("/"), f"{words[0]!r}: an absolute command without prefix"
    return [word.replace("$$", "$") for word in words]


def unit_service() -> tuple[dict[str, str], dict[str, str]]:
    """The unit's [Service] settings (single-valued ones) and its Environment= assignments."""
    sections = parse_unit(UNIT.read_text())
    service = sections["Service"]
    settings = {key: value for key, value in service if key != "Environment"}
    assert len(settings) == len([key for key, _ in service if key != "Environment"]), "a key given twice"
    assignments = [word for key, value in service if key == "Environment" for word in shlex.split(value)]
    environment = {name: value for name, _, value in (word.partition("=") for word in assignments)}
    return settings, environment


def test_systemd_unit_structure_and_verify(tmp_path: Path) -> None:
    sections = parse_unit(UNIT.read_text())
    assert set(sections) == {"Unit", "Service"}
    unit = dict(sections["Unit"])
    assert unit["Description"]
    # Started on demand before `systemctl kexec`, not by kexec.target: once kexec.target starts, the
    # services are already stopping and systemd-kexec.service kexecs whatever is loaded, so a check
    # there could not refuse the kexec (examples/ci/README.md). Default dependencies keep it out of
    # that transaction (Conflicts=shutdown.target).
    assert unit.get("DefaultDependencies", "yes") == "yes"
    settings, environment = unit_service()
    assert settings["Type"] == "oneshot"
    assert "RemainAfterExit" not in settings, "every start must check again"
    start = exec_words(settings["ExecStart"])
    assert start[:2] == ["/usr/local/sbin/pre-kexec-check", "/run/pmpool/next.dtb"]
    assert "-l" in start[2:] or "--load" in start[2:], "the hook loads the kernel: nothing else does"
    assert environment == {
        "PMPOOLCTL": "pmpoolctl",
        "PMPOOLCTL_MEMMAP": "--live",
        "PMPOOLCTL_JUNIT": "/var/log/pmpoolctl/pre-kexec.xml",
    }
    assert exec_words(settings["ExecStopPost"])[0] == "/bin/sh"
    readme = (CI / "README.md").read_text()
    assert f"install -m 0755 examples/ci/pre-kexec-check {start[0]}" in readme
    assert "systemctl start pmpool-pre-kexec.service && systemctl kexec" in readme

    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # CI need not have systemd: the checks above are the ones that must pass everywhere
        warnings.warn("systemd-analyze not found: the unit was checked by parsing only", stacklevel=1)
        return
    # verify checks that ExecStart= is executable: point it at the hook in this checkout.
    verified = tmp_path / UNIT.name
    verified.write_text(UNIT.read_text().replace(start[0], str(HOOK)))
    proc = subprocess.run(
        [analyze, "verify", "--man=no", str(verified)], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # Unknown keys and bad values are only warnings to verify, and exit 0: none may name the unit.
    assert UNIT.name not in output, output


def run_unit_exec(tmp_path: Path, setting: str, blob: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """The unit's Exec line run as systemd would: its Environment=, with the memory map and report pointed at
    fixtures, the hook and blob paths at this checkout's, and a fake kexec that records its arguments."""
    settings, environment = unit_service()
    words = exec_words(settings[setting])
    if words[0] == "/usr/local/sbin/pre-kexec-check":
        assert words[1] == "/run/pmpool/next.dtb"
        words = [SH, str(HOOK), str(blob), *words[2:]]
    env = {
        **os.environ,
        **environment,
        "PATH": f"{tool_shims(tmp_path, 'kexec')}:{os.environ['PATH']}",
        "PMPOOLCTL_MEMMAP": f"--memmap {EXAMPLE_IOMEM}",
        "PMPOOLCTL_JUNIT": str(tmp_path / "log" / "pre-kexec.xml"),
        **extra_env,
    }
    return subprocess.run(words, capture_output=True, text=True, env=env, cwd="/", check=False)


def kexec_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "kexec.log"
    return log.read_text().splitlines() if log.exists() else []


def test_systemd_unit_loads_the_kernel_after_a_good_blob(tmp_path: Path) -> None:
    proc = run_unit_exec(tmp_path, "ExecStart", GOOD_BLOB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    load = exec_words(unit_service()[0]["ExecStart"])[2:]
    assert kexec_calls(tmp_path) == [" ".join(load)]
    assert junit_failures(tmp_path / "log" / "pre-kexec.xml") == 0
    assert run_unit_exec(tmp_path, "ExecStopPost", GOOD_BLOB, SERVICE_RESULT="success").returncode == 0
    assert kexec_calls(tmp_path) == [" ".join(load)], "a successful start unloads nothing"


def test_systemd_unit_refuses_a_bad_blob_and_unloads_any_kernel(tmp_path: Path) -> None:
    proc = run_unit_exec(tmp_path, "ExecStart", BAD_BLOB)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "kexec refused" in proc.stderr
    assert kexec_calls(tmp_path) == []
    assert junit_failures(tmp_path / "log" / "pre-kexec.xml") == 3  # kernel, memreserve, outside-ram
    # systemd then runs ExecStopPost= with the failed start's result
    assert run_unit_exec(tmp_path, "ExecStopPost", BAD_BLOB, SERVICE_RESULT="exit-code").returncode == 0
    assert kexec_calls(tmp_path) == ["-u"]
