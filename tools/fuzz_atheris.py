"""Coverage-guided fuzzing of the reader and the dump path with atheris (optional; `make fuzz-atheris`).

    python -m tools.fuzz_atheris [--ignore=KIND,...] [-max_total_time=SECONDS] [libFuzzer flags] [CORPUS_DIR...]

atheris (`pip install -e '.[fuzz]'`) instruments pmpoolctl's modules and lets
libFuzzer mutate blobs towards new coverage, starting from the small blobs of
the mutation fuzzer's corpus (tests/helpers/fuzzing.py; a temporary directory unless
CORPUS_DIR is given). Every input goes through `parse_blob` in-process, which
must return a Blob or raise BlobError and nothing else, and then through `dump`
and `dump --json` with the invariants of tests/helpers/fuzzing.py (`check(...,
edits=False)`): exit 0 or one `error:` line with the file and offset, dtc's
tree, no control characters, no command over two seconds. A broken invariant
raises; libFuzzer saves the input as fuzz-failures/atheris-crash-* and stops
(replay: `python -m tools.fuzz_atheris fuzz-failures/atheris-crash-…`).
`--ignore=control-char,dtc-checks` counts failures of those kinds (the part
of a failure line before the first colon) instead of stopping, to look past
known bugs. Outcome counts go to stderr every 500 inputs and at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import pkgutil
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["pmpoolctl"]):
    import pmpoolctl

    for module in pkgutil.iter_modules(pmpoolctl.__path__):
        if module.name != "__main__":
            importlib.import_module(f"pmpoolctl.{module.name}")
    from pmpoolctl.dtb.reader import parse_blob
    from pmpoolctl.errors import BlobError

from tests.helpers.fuzzing import check, corpus  # after pmpoolctl, which must be imported instrumented

SMALL = 64 << 10  # corpus blobs up to this size seed the run; QEMU's 1 MiB of padding only slows libFuzzer
_counts: Counter[str] = Counter()


class InvariantBroken(Exception):
    """An input broke one of the fuzzer's invariants; the message says which."""


def _report() -> None:
    print(f"atheris: {sum(_counts.values())} outcomes: {dict(sorted(_counts.items()))}", file=sys.stderr)


def main() -> None:
    dtc = shutil.which("dtc")
    if dtc is None:
        sys.exit("error: dtc (device-tree-compiler) is the fuzzer's oracle; install it")
    work = Path(tempfile.mkdtemp(prefix="pmpoolctl-atheris-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    atexit.register(_report)
    scratch = work / "case"
    scratch.mkdir()
    runs = [0]

    def one_input(data: bytes) -> None:
        with contextlib.suppress(BlobError):  # anything else escapes: a bug
            parse_blob(data, "atheris.dtb")
        checked = check(data, scratch, dtc, dts=False, edits=False)
        _counts.update(checked.outcomes)
        runs[0] += 1
        if runs[0] % 500 == 0:
            _report()
        failures = [f for f in checked.failures if f.split(":", 1)[0] not in ignored]
        _counts.update(f"ignored {f.split(':', 1)[0]}" for f in checked.failures if f not in failures)
        if failures:
            raise InvariantBroken("\n".join(failures))

    ignored = {kind for a in sys.argv[1:] if a.startswith("--ignore=") for kind in a.split("=", 1)[1].split(",")}
    args = [a for a in sys.argv if not a.startswith("--ignore=")]
    if not any(not a.startswith("-") for a in args[1:]):  # no corpus directory or input file given
        seeds = work / "corpus"
        seeds.mkdir()
        for sample in corpus(dtc):
            if len(sample.data) <= SMALL:
                (seeds / f"{sample.name}.dtb").write_bytes(sample.data)
        args.append(str(seeds))
    Path("fuzz-failures").mkdir(exist_ok=True)
    # -timeout=0: libFuzzer's own SIGALRM timer would fight the per-command watchdog (two seconds are checked there)
    defaults = ["-timeout=0", f"-max_len={SMALL}", "-artifact_prefix=fuzz-failures/atheris-"]
    atheris.Setup([args[0], *defaults, *args[1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
