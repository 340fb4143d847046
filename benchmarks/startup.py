#!/usr/bin/env python3
"""Time how pmpoolctl starts, packaged one way or another: `--version` and `dump examples/pool.dtb`.

python3 benchmarks/startup.py [--runs N] 'LABEL=COMMAND' ...      (make bench-pyz)

Each COMMAND is a command line (split as a shell would) that runs pmpoolctl, such as
`.venv-bench/bin/pmpoolctl` or `/usr/bin/python3 dist/pmpoolctl.pyz`; `{fresh}` in it becomes a new
empty directory at every run, for a first start (`env SHIV_ROOT={fresh} python3 pmpoolctl-shiv.pyz`).
The rows run round-robin after one warm-up each; the table shows the median wall-clock time of a
whole process. The standard library only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGUMENTS = {"--version": ["--version"], "dump examples/pool.dtb": ["dump", str(ROOT / "examples" / "pool.dtb")]}


def run_once(command: list[str]) -> float:
    """One run, wall clock; `{fresh}` is a new empty directory for this run only."""
    fresh = tempfile.mkdtemp(prefix="startup-")
    try:
        argv = [word.replace("{fresh}", fresh) for word in command]
        started = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(fresh)


def measure(rows: dict[str, list[str]], runs: int) -> dict[tuple[str, str], list[float]]:
    commands = {(label, shown): prefix + args for label, prefix in rows.items() for shown, args in ARGUMENTS.items()}
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
    for command in commands.values():
        run_once(command)  # warm-up: the page cache, and a check that it runs
    keys = list(commands)
    for round_number in range(runs):
        shift = round_number % len(keys)
        for key in keys[shift:] + keys[:shift]:
            samples[key].append(run_once(commands[key]))
    return samples


def table(rows: dict[str, list[str]], samples: dict[tuple[str, str], list[float]]) -> str:
    lines = ["| how it is run | " + " | ".join(ARGUMENTS) + " |", "|---|" + "---:|" * len(ARGUMENTS)]
    for label in rows:
        cells = [f"{statistics.median(samples[label, shown]) * 1000:.0f} ms" for shown in ARGUMENTS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("rows", nargs="+", metavar="LABEL=COMMAND")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each row (default 20)")
    args = parser.parse_args(argv)
    rows = {}
    for row in args.rows:
        label, equals, command = row.partition("=")
        if not equals or not command.strip():
            parser.error(f"{row!r}: not LABEL=COMMAND")
        rows[label] = shlex.split(command)
    environment = os.environ.get("PYTHONDONTWRITEBYTECODE")
    if environment:  # hosts do not set it; with it, the installed package's first start would compile each time
        print("note: PYTHONDONTWRITEBYTECODE is set", file=sys.stderr)
    print(table(rows, measure(rows, args.runs)))
    print(f"\nmedian of {args.runs} runs each, round-robin; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
