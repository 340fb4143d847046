#!/usr/bin/env python3
"""Build dist/pmpoolctl.pyz: pmpoolctl and its pinned dependencies in one file that python3 >= 3.10 runs.

python3 tools/build_pyz.py --wheels DIR [--bytecode PYTHON]... [-o dist/pmpoolctl.pyz]   (make pyz)

DIR holds the wheels tools/pyz-requirements.txt pins (each is checked against its sha256 there);
pmpoolctl itself comes from this checkout. The archive, run as `python3 pmpoolctl.pyz` or directly:

  __main__.py             puts the trees below first on sys.path, then runs pmpoolctl
  site/                   the sources: pmpoolctl and the wheels' contents, licences in their .dist-info
  bytecode/cpython-3NN/   sourceless .pyc of the packages a run imports, one tree per --bytecode
                          interpreter: zipimport never writes bytecode, so without a tree for the
                          running python every start compiles them again (about 100 ms; benchmarks/README.md)

Nothing is extracted and nothing is written at run time. The same inputs and the same --bytecode
interpreters give the same bytes: entries sorted, one timestamp, fixed modes, hash-based .pyc.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "tools" / "pyz-requirements.txt"
PACKAGE = REPO / "pmpoolctl"
# Imported by a run (rich only on a terminal, fdt only to write); rich's markdown-it-py and pygments
# never are, so they stay as sources.
BYTECODE_PACKAGES = ("pmpoolctl", "click", "rich", "fdt")
# The bytecode every run reads is stored, not deflated: inflating it costs about 6 ms at each start
# (benchmarks/README.md), for about 550 KiB more per interpreter.
STORED_PACKAGES = ("pmpoolctl", "click")
TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold
SHEBANG = b"#!/usr/bin/env python3\n"

BOOTSTRAP = '''\
"""pmpoolctl as one file: the bundled packages go first on sys.path, bytecode for this python before sources."""

import os
import sys

if sys.version_info < (3, 10):  # written so that any python reads it, to say this and not a SyntaxError
    found = "%s is %s" % (sys.executable, sys.version.split()[0])
    sys.stderr.write("error: pmpoolctl needs Python 3.10 or newer; %s\\n" % found)
    sys.exit(70)
archive = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == archive:
    del sys.path[0]
tag = sys.implementation.cache_tag or "none"
sys.path[:0] = [os.path.join(archive, "bytecode", tag), os.path.join(archive, "site")]

from pmpoolctl.__main__ import main

main()
'''

# Run by each --bytecode interpreter: compile SITE's packages into OUT/<cache tag>/, print the tag.
COMPILE = """\
import pathlib, py_compile, sys
if sys.version_info < (3, 10):
    sys.exit(f"python {sys.version.split()[0]}: pmpoolctl needs 3.10 or newer")
site, out, *packages = sys.argv[1:]
tag = sys.implementation.cache_tag
for package in packages:
    for source in sorted(pathlib.Path(site, package).rglob("*.py")):
        relative = source.relative_to(site)
        target = pathlib.Path(out, tag, relative.with_suffix(".pyc"))
        target.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(
            str(source), str(target), dfile=f"pmpoolctl.pyz/site/{relative.as_posix()}", doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
print(tag, sys.version.split()[0])
"""


class BuildError(Exception):
    pass


def pinned_wheels(requirements: Path) -> dict[str, tuple[str, set[str]]]:
    """NAME==VERSION --hash=sha256:... lines: {normalised name: (version, hashes)}."""
    pins: dict[str, tuple[str, set[str]]] = {}
    text = re.sub(r"\\\n", " ", requirements.read_text())
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        name, equals, version = words[0].partition("==")
        hashes = {word.removeprefix("--hash=sha256:") for word in words[1:] if word.startswith("--hash=sha256:")}
        if not equals or not hashes or len(hashes) != len(words) - 1:
            raise BuildError(f"{requirements}: {words[0]}: not NAME==VERSION --hash=sha256:HASH")
        pins[re.sub(r"[-_.]+", "_", name).lower()] = (version, hashes)
    return pins


def find_wheels(directory: Path, pins: dict[str, tuple[str, set[str]]]) -> list[Path]:
    """The one wheel of each pin in `directory`, its sha256 checked (other files there are ignored)."""
    found = []
    for name, (version, hashes) in sorted(pins.items()):
        wheels = [w for w in directory.glob("*.whl") if w.name.lower().startswith(f"{name}-{version}-")]
        if len(wheels) != 1:
            raise BuildError(f"{directory}: {len(wheels)} wheels of {name} {version} (want 1)")
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if digest not in hashes:
            raise BuildError(f"{wheels[0]}: sha256 {digest} is not the one pinned in {REQUIREMENTS.name}")
        found.append(wheels[0])
    return found


def package_files() -> dict[str, bytes]:
    """pmpoolctl (and its subpackages) from this checkout, with the .dist-info that importlib.metadata and
    licences want."""
    sources = [p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts] + [PACKAGE / "py.typed"]
    files = {p.relative_to(REPO).as_posix(): p.read_bytes() for p in sources}
    version = re.search(r'^__version__ = "([^"]+)"', (PACKAGE / "__init__.py").read_text(), re.M)
    if version is None:
        raise BuildError("no __version__ in pmpoolctl/__init__.py")
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    meta = config["metadata"]
    info = f"pmpoolctl-{version[1]}.dist-info"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {version[1]}\n"
        f"Summary: {meta['description']}\nLicense: {meta['license']}\n"
    ).encode()
    files[f"{info}/LICENSE"] = (REPO / "LICENSE").read_bytes()
    return files


def wheel_files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        # NAME.data/ holds scripts and headers: nothing that imports
        return {
            name: archive.read(name)
            for name in archive.namelist()
            if not name.endswith("/") and not name.split("/", 1)[0].endswith(".data")
        }


def interpreter(python: str) -> str:
    """The interpreter that `python` runs (a wrapper such as pyenv's shim needs the environment this one has)."""
    try:
        run = subprocess.run(
            [python, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise BuildError(f"{python}: cannot run it: {error.strerror}") from None
    if run.returncode != 0 or not run.stdout.strip():
        raise BuildError(f"{python}: cannot run it: {run.stderr.strip() or f'exit {run.returncode}'}")
    return run.stdout.strip()


def compile_bytecode(site: dict[str, bytes], pythons: list[str]) -> dict[str, bytes]:
    """bytecode/<cache tag>/... for each interpreter, compiled by that interpreter."""
    files: dict[str, bytes] = {}
    built_with: list[str] = []  # what made each tree: the same interpreters give the same bytes
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name, data in site.items():
            (root / "site" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "site" / name).write_bytes(data)
        for python in pythons:
            executable = interpreter(python)
            # Not -I, which ignores PYTHONHASHSEED: a set constant's order follows string hashes (3.10 and
            # older write it as it iterates), so a fixed seed and nothing else in the environment.
            run = subprocess.run(
                [executable, "-S", "-s", "-c", COMPILE, str(root / "site"), str(root / "bytecode"), *BYTECODE_PACKAGES],
                env={"PYTHONHASHSEED": "0"},
                capture_output=True,
                text=True,
                check=False,
            )
            if run.returncode != 0:
                raise BuildError(f"{python}: {run.stderr.strip() or f'exit {run.returncode}'}")
            tag, version = run.stdout.split()
            built_with.append(f"{tag} {version}\n")
            if any(name.startswith(f"bytecode/{tag}/") for name in files):
                raise BuildError(f"{python}: a second interpreter for {tag}: give one of each")
            for pyc in sorted((root / "bytecode" / tag).rglob("*.pyc")):
                files[pyc.relative_to(root).as_posix()] = pyc.read_bytes()
    if built_with:
        files["bytecode/BUILT-WITH"] = "".join(sorted(built_with)).encode()
    return files


def write_archive(out: Path, files: dict[str, bytes]) -> None:
    """A zip with a shebang, entries in name order, one timestamp and fixed modes: the same files, the same bytes."""
    names = set(files)
    for name in list(names):  # directory entries too, as zipapp writes them
        parts = name.split("/")[:-1]
        names.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    with temporary.open("wb") as stream:
        stream.write(SHEBANG)
        with zipfile.ZipFile(stream, "w") as archive:
            for name in sorted(names):
                info = zipfile.ZipInfo(name, TIMESTAMP)
                info.create_system = 3  # Unix, so that the modes below are read
                if name.endswith("/"):
                    info.external_attr = (0o40755 << 16) | 0x10
                    archive.writestr(info, b"")
                else:
                    info.external_attr = 0o100644 << 16
                    parts = name.split("/")
                    stored = parts[0] == "bytecode" and len(parts) > 3 and parts[2] in STORED_PACKAGES
                    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                    archive.writestr(info, files[name], compresslevel=None if stored else 9)
    temporary.chmod(0o755)
    temporary.replace(out)


def build(wheels: Path, out: Path, pythons: list[str]) -> dict[str, bytes]:
    site = package_files()
    for wheel in find_wheels(wheels, pinned_wheels(REQUIREMENTS)):
        for name, data in wheel_files(wheel).items():
            if name in site:
                raise BuildError(f"{wheel.name}: {name} is in another wheel too")
            site[name] = data
    files = {"__main__.py": BOOTSTRAP.encode()}
    files.update((f"site/{name}", data) for name, data in site.items())
    files.update(compile_bytecode(site, pythons))
    write_archive(out, files)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--wheels", type=Path, required=True, help="directory holding the pinned wheels")
    parser.add_argument("--bytecode", metavar="PYTHON", action="append", default=[], help="compile with PYTHON too")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "dist" / "pmpoolctl.pyz")
    args = parser.parse_args(argv)
    try:
        files = build(args.wheels, args.output, args.bytecode)
    except BuildError as error:
        print(f"build_pyz: {error}", file=sys.stderr)
        return 1
    tags = sorted({name.split("/")[1] for name in files if name.startswith("bytecode/cpython")})
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    args.output.with_name(args.output.name + ".sha256").write_text(f"{digest}  {args.output.name}\n")
    print(f"{args.output}: {args.output.stat().st_size} bytes, bytecode for {', '.join(tags) or 'no python'}")
    print(f"{digest}  {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
