#!/usr/bin/env python3
"""Benchmarks for pmpoolctl: whole processes, timed against C and Python references.

Run with the python of the venv that `make bench` makes (.venv-bench, where
`pip install .` installed pmpoolctl as users get it, without the import hook of an
editable install), so that the `fdt` reference row can import `fdt` and
`pmpoolctl` is that venv's console script. Standard library only.

For each pool size (1k, 10k, 100k, 1M ranges in one `page-ranges` property) the
script writes DTS text and compiles it with `dtc -I dts -O dtb`, so no pmpoolctl
code builds its own input; `fdtget -t x` then checks every word of the compiled
property against what was generated. The ranges are page aligned, 4 KiB..2 MiB,
with gaps, sorted and canonical, and lie inside the RAM of a real-shaped memory
map of a 1.5 TiB host (benchmarks/data/iomem-1.5TiB.txt), clear of its kernel
image, crash kernel and reserved holes, so `validate` passes.

Each command runs as a whole process (stdin and stdout /dev/null) once as a
warm-up and then --runs times; the commands of one size run round-robin (one of
each per round, the order rotated every round), so load that comes and goes hits
all of them alike and the ratios stay fair. The time is wall-clock from fork to
wait4 (time.perf_counter); the peak RSS is the child's ru_maxrss from os.wait4.
Edits run in place on a fresh copy of the blob each time (the copy is not timed).

Peak RSS caveat: Linux carries the RSS of the image a process exec()s from into
its ru_maxrss, so a child never reports less than the RSS of the process that
forked it. The children are therefore started by a bare interpreter (python -S -I,
builtin modules only), not by this script; the floor that remains is measured
(`true` started the same way) and values at it are shown as "<=floor". Blobs are
generated in a forked child, so this script stays small too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
CACHE_DIR = BENCH_DIR / ".cache"
DEFAULT_MEMMAP = BENCH_DIR / "data" / "iomem-1.5TiB.txt"
README = BENCH_DIR / "README.md"
SMALL_BLOB = ROOT / "examples" / "pool.dtb"
RESULTS_BEGIN = "<!-- bench-results:begin -->"
RESULTS_END = "<!-- bench-results:end -->"

PAGE = 0x1000
SIZE_PAGES = (1, 512)  # a range is 4 KiB .. 2 MiB
GAP_PAGES = (3, 96)  # 12 KiB .. 384 KiB between ranges: a page added mid-gap touches neither side
GENERATOR_VERSION = 1  # bump when the generated blobs change, to invalidate the cache
SEED = 20251126
DEFAULT_SIZES = "1k,10k,100k,1M"

# The product's commands and the references, per pool size.
POOL_COMMANDS = ("dump", "dump-json", "validate", "add-range", "remove-range")
REFERENCE_COMMANDS = ("fdtget", "dtc", "fdt")
STARTUP_COMMANDS = ("python", "import-fdt", "imports", "startup-dump")
LABELS = {
    "dump": "pmpoolctl dump",
    "dump-json": "pmpoolctl dump --json",
    "validate": "pmpoolctl validate --memmap IOMEM",
    "add-range": "pmpoolctl add-range (in place)",
    "remove-range": "pmpoolctl remove-range (in place)",
    "fdtget": "fdtget -t x (page-ranges)",
    "dtc": "dtc -I dtb -O dtb",
    "fdt": "fdt: parse_dtb + to_dtb",
    "python": "python -c pass",
    "import-fdt": 'python -c "import fdt"',
    "imports": 'python -c "import click, fdt, rich.console"',
    "startup-dump": "pmpoolctl dump examples/pool.dtb",
}
FDT_SCRIPT = "import sys, fdt; fdt.parse_dtb(open(sys.argv[1], 'rb').read()).to_dtb()"

# Targets of issue 5, as ratios measured in the same run on the same blobs.
BIG, MID = 1_000_000, 100_000
RSS_LIMIT = 6.0
LINEAR_LIMIT = 12.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# sizes


def parse_size(text: str) -> int:
    """'1k' -> 1000, '1M' -> 1000000, '2500' -> 2500 (decimal multipliers: these are counts)."""
    text = text.strip()
    multiplier = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    digits = text[:-1] if multiplier > 1 else text
    if not digits.isdigit() or int(digits) * multiplier < 1:
        raise argparse.ArgumentTypeError(f"not a range count: {text!r} (e.g. 1k, 10k, 100k, 1M, 2500)")
    return int(digits) * multiplier


def size_label(count: int) -> str:
    for unit, value in (("M", 1_000_000), ("k", 1_000)):
        if count % value == 0:
            return f"{count // value}{unit}"
    return str(count)


def parse_sizes(text: str) -> list[int]:
    counts = sorted({parse_size(part) for part in text.split(",") if part.strip()})
    if not counts:
        raise argparse.ArgumentTypeError("no sizes given")
    return counts


# ---------------------------------------------------------------------------
# the memory map and the generated pools


def allowed_spans(iomem_text: str) -> list[tuple[int, int]]:
    """Half-open page-aligned spans of top-level System RAM minus everything nested in it.

    Conservative on purpose: kernel image, crash kernel and any nested reservation
    are all holes, so every generated range is clean by any reading of the map.
    The first MiB (real-mode and firmware memory) is left out too.
    """
    ram: list[tuple[int, int]] = []
    holes: list[tuple[int, int]] = []
    top = ""
    for line in iomem_text.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        span, _, name = line.strip().partition(" : ")
        first, _, last = span.partition("-")
        start, end = int(first, 16), int(last, 16) + 1
        if depth == 0:
            top = name.strip()
            if top == "System RAM":
                ram.append((start, end))
        elif top == "System RAM":
            holes.append((start, end))
    holes.append((0, 0x100000))
    spans: list[tuple[int, int]] = []
    for start, end in sorted(ram):
        pieces = [(start, end)]
        for hole_start, hole_end in holes:
            cut: list[tuple[int, int]] = []
            for s, e in pieces:
                if hole_end <= s or hole_start >= e:
                    cut.append((s, e))
                    continue
                if s < hole_start:
                    cut.append((s, hole_start))
                if hole_end < e:
                    cut.append((hole_end, e))
            pieces = cut
        for s, e in pieces:
            low, high = -(-s // PAGE) * PAGE, e // PAGE * PAGE
            if high > low:
                spans.append((low, high))
    return sorted(spans)


def generate_ranges(count: int, spans: Sequence[tuple[int, int]], seed: int) -> list[tuple[int, int]]:
    """`count` sorted, canonical (base, size) ranges laid out through `spans` with random gaps."""
    rng = random.Random(seed)
    draw = rng.randint
    ranges: list[tuple[int, int]] = []
    append = ranges.append
    index = 0
    cursor, end = spans[0]
    while len(ranges) < count:
        base = cursor + draw(*GAP_PAGES) * PAGE
        size = draw(*SIZE_PAGES) * PAGE
        if base + size > end:
            index += 1
            if index == len(spans):
                raise SystemExit(f"error: the memory map's RAM holds only {len(ranges)} of {count} ranges")
            cursor, end = spans[index]
            continue
        append((base, size))
        cursor = base + size
    return ranges


def pool_dts(ranges: Sequence[tuple[int, int]], ram: Sequence[tuple[int, int]], source: str) -> str:
    cells = ",\n\t\t      ".join(
        f"<0x{s >> 32:x} 0x{s & 0xFFFFFFFF:x} 0x{(e - s) >> 32:x} 0x{(e - s) & 0xFFFFFFFF:x}>" for s, e in ram
    )
    body = "\n".join([f"\t\t\t0x{base:x} 0x{size:x}" for base, size in ranges])
    return (
        "/dts-v1/;\n\n"
        f"/* Generated by benchmarks/bench.py: {len(ranges)} ranges inside the RAM of {source}. */\n\n"
        "/ {\n"
        "\t#address-cells = <2>;\n"
        "\t#size-cells = <2>;\n"
        f'\tmodel = "pmpoolctl benchmark, {len(ranges)} ranges";\n\n'
        f"\tmemory@{ram[0][0]:x} {{\n"
        '\t\tdevice_type = "memory";\n'
        f"\t\treg = {cells};\n"
        "\t};\n\n"
        "\tdefault_pmpool {\n"
        '\t\tcompatible = "pmpool-v1";\n'
        "\t\tpage-size = <0x1000>;\n"
        "\t\tpage-ranges = /bits/ 64 <\n"
        f"{body}\n"
        "\t\t>;\n"
        "\t};\n"
        "};\n"
    )


def ram_spans(iomem_text: str) -> list[tuple[int, int]]:
    spans = []
    for line in iomem_text.splitlines():
        if line[:1] not in ("", " ") and line.partition(" : ")[2].strip() == "System RAM":
            first, _, last = line.partition(" : ")[0].partition("-")
            spans.append((int(first, 16), int(last, 16) + 1))
    return spans


def fdtget_words(ranges: Iterable[tuple[int, int]]) -> str:
    """What `fdtget -t x` prints for the property: 32-bit hex words, space separated."""
    mask = 0xFFFFFFFF
    return " ".join(f"{b >> 32:x} {b & mask:x} {s >> 32:x} {s & mask:x}" for b, s in ranges)


def pick_edits(ranges: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """(a page to add, a range to remove): the page sits mid-gap in the middle of the pool, in RAM
    (both neighbours in one allowed span) and touching neither neighbour; the range is a whole
    existing one a third of the way in."""
    count = len(ranges)
    for i in range(count // 2, count - 1):
        gap_start = ranges[i][0] + ranges[i][1]
        gap_end = ranges[i + 1][0]
        if any(s <= gap_start and gap_end <= e for s, e in spans) and gap_end - gap_start >= 3 * PAGE:
            return (gap_start + (gap_end - gap_start) // PAGE // 2 * PAGE, PAGE), ranges[count // 3]
    last_end = ranges[-1][0] + ranges[-1][1]
    return (last_end + PAGE, PAGE), ranges[count // 3]


@dataclass(frozen=True)
class Pool:
    count: int
    dtb: Path
    size: int  # bytes
    add: tuple[int, int]  # a page in the middle of a gap: touches no range
    remove: tuple[int, int]  # one whole existing range


def pool_paths(count: int) -> tuple[Path, Path, Path]:
    stem = CACHE_DIR / f"pool-{size_label(count)}"
    return stem.with_suffix(".dts"), stem.with_suffix(".dtb"), stem.with_suffix(".json")


def cache_key(count: int, memmap_text: str, dtc_version: str) -> str:
    material = json.dumps([GENERATOR_VERSION, count, SEED, SIZE_PAGES, GAP_PAGES, memmap_text, dtc_version])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def build_pool(count: int, memmap: Path, tools: Tools) -> None:
    """Generate, compile and check one pool (runs in a forked child: its memory dies with it)."""
    text = memmap.read_text()
    spans = allowed_spans(text)
    ranges = generate_ranges(count, spans, SEED + count)
    dts, dtb, meta = pool_paths(count)
    dts.write_text(pool_dts(ranges, ram_spans(text), memmap.name))
    partial = dtb.with_suffix(".dtb.partial")
    subprocess.run([tools.dtc, "-q", "-I", "dts", "-O", "dtb", "-o", str(partial), str(dts)], check=True)
    printed = subprocess.run(
        [tools.fdtget, "-t", "x", str(partial), "/default_pmpool", "page-ranges"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if printed != fdtget_words(ranges):
        raise SystemExit(f"error: {partial}: fdtget does not read back the {count} generated ranges")
    add, remove = pick_edits(ranges, spans)
    os.replace(partial, dtb)
    key = cache_key(count, text, tools.dtc_version)
    meta.write_text(json.dumps({"key": key, "count": count, "add": add, "remove": remove}) + "\n")


def ensure_pool(count: int, memmap: Path, tools: Tools) -> Pool:
    _, dtb, meta = pool_paths(count)
    key = cache_key(count, memmap.read_text(), tools.dtc_version)
    try:
        info = json.loads(meta.read_text())
        fresh = info.get("key") == key and dtb.is_file()
    except (OSError, ValueError):
        fresh = False
    if not fresh:
        log(f"generating {size_label(count)} ranges: DTS -> dtc -> checked with fdtget ({dtb.relative_to(ROOT)})")
        started = time.perf_counter()
        in_child(lambda: build_pool(count, memmap, tools))
        log(f"  done in {time.perf_counter() - started:.1f} s")
        info = json.loads(meta.read_text())
    add, remove = info["add"], info["remove"]
    return Pool(count, dtb, dtb.stat().st_size, (int(add[0]), int(add[1])), (int(remove[0]), int(remove[1])))


def in_child(work: Callable[[], None]) -> None:
    """Run `work` in a forked child, so that its memory never counts in this process's RSS."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except SystemExit as exc:
            print(exc, file=sys.stderr)
        except BaseException as exc:  # noqa: BLE001 - report anything, then leave the child
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("error: generating a benchmark blob failed (see above)")


# ---------------------------------------------------------------------------
# running and measuring


@dataclass(frozen=True)
class Tools:
    python: str
    pmpoolctl: str
    fdtget: str
    dtc: str
    true: str
    dtc_version: str


@dataclass
class Command:
    group: str  # a size label, or "startup"
    key: str
    argv: list[str]
    copy_from: Path | None = None  # an edit: copy this over argv's blob before each run
    copy_to: Path | None = None
    expect_ranges: int | None = None  # an edit: ranges in the pool after it (checked after the warm-up)
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        return LABELS[self.key]

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and self.error is None else None

    @property
    def peak_rss(self) -> int | None:
        return max(self.rss_kib) if self.rss_kib and self.error is None else None


# The process that starts the measured ones: a bare interpreter (-S -I, only builtin
# modules), so that the RSS it hands on to its children at exec (see the module
# docstring) is as small as Python allows. One request per line: the stderr path and
# the argv, NUL separated; one reply per line: seconds, ru_maxrss (KiB), exit code.
RUNNER = r"""
import os, sys, time
requests, replies = sys.stdin.buffer, sys.stdout.buffer
for line in requests:
    err, *argv = line.rstrip(b"\n").split(b"\0")
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    replies.write(b"%.9f %d %d\n" % (elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
    replies.flush()
"""


class Runner:
    """Times whole processes: wall clock from fork to wait4, peak RSS from wait4's rusage."""

    def __init__(self, python: str, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self.process = subprocess.Popen(
            [python, "-S", "-I", "-c", RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def run(self, argv: Sequence[str]) -> tuple[float, int, int]:
        """(seconds, peak RSS in KiB, exit code) of one process with stdin and stdout on /dev/null."""
        fields = [os.fsencode(self.stderr_path), *(os.fsencode(arg) for arg in argv)]
        if any(b"\n" in f or b"\0" in f for f in fields):
            raise ValueError(f"an argument holds a newline or NUL: {argv!r}")
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"\0".join(fields) + b"\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline().split()
        if len(reply) != 3:
            raise SystemExit("error: the benchmark's runner process died")
        return float(reply[0]), int(reply[1]), int(reply[2])

    def stderr_tail(self) -> str:
        lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else "(nothing on stderr)"

    def rss_floor(self, true: str) -> int:
        """The least ru_maxrss any child can report: `true` started the same way."""
        return max(self.run([true])[1] for _ in range(3))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def count_ranges(fdtget: str, blob: Path) -> int:
    """Ranges in the blob's pool as fdtget reads them (4 words of 32 bits per range)."""
    printed = subprocess.run(
        [fdtget, "-t", "x", str(blob), "/default_pmpool", "page-ranges"], capture_output=True, check=False
    ).stdout
    return len(printed.split()) // 4


def run_round(commands: Sequence[Command], rotate: int, record: bool, runner: Runner, tools: Tools) -> None:
    order = list(commands[rotate % len(commands) :]) + list(commands[: rotate % len(commands)])
    for command in order:
        if command.error is not None:
            continue
        if command.copy_from is not None and command.copy_to is not None:
            shutil.copyfile(command.copy_from, command.copy_to)
        seconds, rss, code = runner.run(command.argv)
        if code != 0:
            command.error = f"exit {code}: {runner.stderr_tail()}"
            log(f"  {command.group} {command.label}: FAILED, {command.error}")
            continue
        if not record and command.expect_ranges is not None and command.copy_to is not None:
            found = count_ranges(tools.fdtget, command.copy_to)
            if found != command.expect_ranges:
                command.error = f"fdtget reads {found} ranges after the edit, expected {command.expect_ranges}"
                log(f"  {command.group} {command.label}: FAILED, {command.error}")
        if record:
            command.seconds.append(seconds)
            command.rss_kib.append(rss)


def measure(commands: Sequence[Command], runs: int, warmups: int, runner: Runner, tools: Tools) -> None:
    """Round-robin: each round runs every command once, starting one further along each time."""
    for index in range(warmups + runs):
        run_round(commands, index, record=index >= warmups, runner=runner, tools=tools)


def pool_commands(pool: Pool, tools: Tools, memmap: Path, workdir: Path) -> list[Command]:
    label = size_label(pool.count)
    blob = str(pool.dtb)
    copy = workdir / f"edit-{label}.dtb"
    dtc_out = workdir / f"dtc-{label}.dtb"
    add_base, add_size = pool.add
    remove_base, remove_size = pool.remove
    pmpoolctl = tools.pmpoolctl
    return [
        Command(label, "dump", [pmpoolctl, "dump", blob]),
        Command(label, "dump-json", [pmpoolctl, "dump", "--json", blob]),
        Command(label, "validate", [pmpoolctl, "validate", blob, "--memmap", str(memmap)]),
        Command(
            label,
            "add-range",
            [pmpoolctl, "add-range", str(copy), f"{add_base:#x}", f"{add_size:#x}"],
            copy_from=pool.dtb,
            copy_to=copy,
            expect_ranges=pool.count + 1,
        ),
        Command(
            label,
            "remove-range",
            [pmpoolctl, "remove-range", str(copy), f"{remove_base:#x}", f"{remove_size:#x}"],
            copy_from=pool.dtb,
            copy_to=copy,
            expect_ranges=pool.count - 1,
        ),
        Command(label, "fdtget", [tools.fdtget, "-t", "x", blob, "/default_pmpool", "page-ranges"]),
        Command(label, "dtc", [tools.dtc, "-I", "dtb", "-O", "dtb", "-o", str(dtc_out), blob]),
        Command(label, "fdt", [tools.python, "-c", FDT_SCRIPT, blob]),
    ]


def startup_commands(tools: Tools) -> list[Command]:
    return [
        Command("startup", "python", [tools.python, "-c", "pass"]),
        Command("startup", "import-fdt", [tools.python, "-c", "import fdt"]),
        Command("startup", "imports", [tools.python, "-c", "import click, fdt, rich.console"]),
        Command("startup", "startup-dump", [tools.pmpoolctl, "dump", str(SMALL_BLOB)]),
    ]


# ---------------------------------------------------------------------------
# targets


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None  # the measured ratio; None when not measured (size not run, or a command failed)
    limit: float
    note: str = ""

    @property
    def status(self) -> str:
        if self.value is None:
            return "n/a"
        return "PASS" if self.value <= self.limit else "FAIL"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def evaluate_targets(results: dict[str, dict[str, Command]], pools: dict[str, Pool]) -> list[Target]:
    """Every target of issue 5 as (measured ratio, limit); "n/a" with the reason when not measured."""
    big, mid = size_label(BIG), size_label(MID)

    def median(group: str, key: str) -> float | None:
        command = results.get(group, {}).get(key)
        return command.median if command is not None else None

    def rss_bytes(group: str, key: str) -> float | None:
        command = results.get(group, {}).get(key)
        rss = command.peak_rss if command is not None else None
        return None if rss is None else rss * 1024.0

    def target(name: str, numerator: float | None, denominator: float | None, limit: float, *groups: str) -> Target:
        value = ratio(numerator, denominator)
        missing = [g for g in groups if g not in results]
        note = ""
        if value is None:
            note = f"needs size {', '.join(missing)}" if missing else "a command failed"
        return Target(name, value, limit, note)

    blob_size = float(pools[big].size) if big in pools else None
    short = {key: LABELS[key].removeprefix("pmpoolctl ") for key in POOL_COMMANDS}
    targets = [
        target(f"validate of {big} <= 1.0x fdtget -t x", median(big, "validate"), median(big, "fdtget"), 1.0, big),
        target(f"dump --json of {big} <= 2.0x fdtget -t x", median(big, "dump-json"), median(big, "fdtget"), 2.0, big),
        target(f"add-range into {big} <= 5x dtc -I dtb -O dtb", median(big, "add-range"), median(big, "dtc"), 5.0, big),
    ]
    for key in ("add-range", "dump", "dump-json", "validate", "remove-range"):
        targets.append(
            target(
                f"peak RSS of {short[key]} at {big} <= 6x blob size",
                rss_bytes(big, key),
                blob_size,
                RSS_LIMIT,
                big,
            )
        )
    targets.append(
        target(
            "start-up: dump of a small blob <= 1.5x python -c 'import click, fdt, rich.console'",
            median("startup", "startup-dump"),
            median("startup", "imports"),
            1.5,
            "startup",
        )
    )
    for key in POOL_COMMANDS:
        targets.append(
            target(
                f"linear: {short[key]} of {big} <= 12x {mid}",
                median(big, key),
                median(mid, key),
                LINEAR_LIMIT,
                mid,
                big,
            )
        )
    return targets


# ---------------------------------------------------------------------------
# the machine


def machine_info(tools: Tools) -> dict[str, Any]:
    cpu = "unknown"
    mem_kib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "dtc": tools.dtc_version,
        "fdt": version("fdt"),
        "click": version("click"),
        "rich": version("rich"),
        "pmpoolctl": version("pmpoolctl"),
        "commit": git.stdout.strip() or "unknown",
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------
# output


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def fmt_rss(kib: int | None, floor: int) -> str:
    if kib is None:
        return "-"
    if kib <= floor + 512:
        return f"<={floor / 1024:.1f} MiB"
    return f"{kib / 1024:.1f} MiB"


def fmt_bytes(size: int) -> str:
    for unit, value in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= value:
            return f"{size / value:.1f} {unit}"
    return f"{size} B"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def cell(command: Command | None, floor: int) -> tuple[str, str]:
    if command is None:
        return ("", "")
    if command.error is not None:
        return ("error", "")
    return (fmt_seconds(command.median), fmt_rss(command.peak_rss, floor))


@dataclass
class Report:
    machine: dict[str, Any]
    runs: int
    warmups: int
    floor_kib: int
    pools: dict[str, Pool]
    results: dict[str, dict[str, Command]]
    targets: list[Target]
    seconds_total: float

    @staticmethod
    def rss_ratio(command: Command, pool: Pool) -> float | None:
        rss = command.peak_rss
        return None if rss is None else rss * 1024.0 / pool.size

    def tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, header, rows) of every table: the text and markdown outputs draw the same ones."""
        sizes = [label for label in self.results if label != "startup"]
        header = ["command"] + [f"{s} time" if i % 2 == 0 else f"{s} RSS" for s in sizes for i in range(2)]
        per_size: list[list[str]] = [
            ["blob size"] + [x for s in sizes for x in (fmt_bytes(self.pools[s].size), "")],
        ]
        for key in POOL_COMMANDS + REFERENCE_COMMANDS:
            per_size.append([LABELS[key]] + [x for s in sizes for x in cell(self.results[s].get(key), self.floor_kib)])
        ratios: list[list[str]] = []
        short = {key: LABELS[key].removeprefix("pmpoolctl ") for key in POOL_COMMANDS}
        for reference in ("fdtget", "dtc"):
            for key in POOL_COMMANDS:
                ratios.append(
                    [f"{short[key]} / {reference}"]
                    + [fmt_ratio(ratio(self.results[s][key].median, self.results[s][reference].median)) for s in sizes]
                )
        for key in POOL_COMMANDS:
            ratios.append(
                [f"{short[key]} peak RSS / blob size"]
                + [fmt_ratio(self.rss_ratio(self.results[s][key], self.pools[s])) for s in sizes]
            )
        startup = self.results.get("startup", {})
        startup_rows = [[LABELS[key], *cell(startup.get(key), self.floor_kib)] for key in STARTUP_COMMANDS]
        target_rows = [
            [t.name, fmt_ratio(t.value), f"{t.limit:.1f}x", t.status + (f" ({t.note})" if t.note else "")]
            for t in self.targets
        ]
        out = []
        if sizes:
            out.append(
                (
                    f"median time and peak RSS per pool size ({self.runs} runs after {self.warmups} warm-up)",
                    header,
                    per_size,
                )
            )
            out.append(("ratios (same run, same blobs)", ["ratio", *sizes], ratios))
        out.append(("start-up (examples/pool.dtb)", ["command", "time", "RSS"], startup_rows))
        out.append(("targets (issue 5)", ["target", "measured", "limit", "result"], target_rows))
        return out

    def summary(self) -> str:
        measured = [t for t in self.targets if t.value is not None]
        met = sum(t.status == "PASS" for t in measured)
        skipped = len(self.targets) - len(measured)
        extra = f" ({skipped} not measured)" if skipped else ""
        return f"targets: {met}/{len(self.targets)} met{extra}"

    def machine_line(self) -> str:
        m = self.machine
        load = f"load average {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end"
        return (
            f"{m['cpu']}, {m['cpus']} CPUs ({m['cpus_usable']} usable), {m['memory_gib']} GiB; {m['kernel']}; "
            f"Python {m['python']}; {m['dtc']}; fdt {m['fdt']}; pmpoolctl {m['pmpoolctl']} ({m['commit']}); {load}"
        )

    def load_note(self) -> str:
        """A warning when other work shared the CPUs: the targets assume a quiet machine."""
        m = self.machine
        load = max(m["loadavg_start"][0], m["loadavg_end"][0])
        if load < 0.5 * (m["cpus_usable"] or 1):
            return ""
        return (
            f"note: load average up to {load:.2f} on {m['cpus_usable']} CPUs: the machine was busy and these "
            "figures are noisy; the targets are meant for a quiet machine"
        )

    def text(self) -> str:
        lines = [
            f"machine: {self.machine_line()}",
            f"RSS floor (the runner's own image, see --help): {self.floor_kib / 1024:.1f} MiB",
            "",
        ]
        for title, header, rows in self.tables():
            widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
            lines.append(title)
            lines.append(
                "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
            )
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
            for row in rows:
                lines.append(
                    "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                )
            lines.append("")
        for group in self.results.values():
            for command in group.values():
                if command.error:
                    lines.append(f"{command.group} {command.label}: {command.error}")
        if self.load_note():
            lines.append(self.load_note())
        lines.append(f"full run: {self.seconds_total:.0f} s")
        lines.append(self.summary())
        return "\n".join(lines)

    def markdown(self) -> str:
        m = self.machine
        lines = [
            f"Measured {time.strftime('%Y-%m-%d')} at commit `{m['commit']}` with "
            f"`{' '.join(self.machine['argv'])}`: median of {self.runs} runs after {self.warmups} warm-up.",
            "",
            f"Machine: {self.machine_line()}.",
            "",
        ]
        if self.load_note():
            lines += [f"**{self.load_note().replace('note: ', 'Note: ', 1)}.**", ""]
        for title, header, rows in self.tables():
            lines.append(f"**{title}**")
            lines.append("")
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
            for row in rows:
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
            lines.append("")
        lines.append(
            f"RSS floor (the runner's own image, see above): {self.floor_kib / 1024:.1f} MiB. "
            f"Full run: {self.seconds_total:.0f} s."
        )
        lines.append("")
        lines.append(f"**{self.summary()}**")
        return "\n".join(lines)

    def json(self) -> dict[str, Any]:
        return {
            "schema": "pmpoolctl.bench/v1",
            "machine": self.machine,
            "runs": self.runs,
            "warmups": self.warmups,
            "rss_floor_kib": self.floor_kib,
            "blobs": {
                label: {"ranges": p.count, "bytes": p.size, "path": str(p.dtb), "add": p.add, "remove": p.remove}
                for label, p in self.pools.items()
            },
            "results": [
                {
                    "group": c.group,
                    "command": c.key,
                    "label": c.label,
                    "argv": c.argv,
                    "seconds": c.seconds,
                    "median_seconds": c.median,
                    "min_seconds": min(c.seconds) if c.seconds else None,
                    "rss_kib": c.rss_kib,
                    "peak_rss_kib": c.peak_rss,
                    "error": c.error,
                }
                for group in self.results.values()
                for c in group.values()
            ],
            "targets": [{"name": t.name, "ratio": t.value, "limit": t.limit, "result": t.status} for t in self.targets],
            "summary": self.summary(),
            "seconds_total": self.seconds_total,
        }


def update_readme(markdown: str) -> None:
    text = README.read_text()
    begin, end = text.find(RESULTS_BEGIN), text.find(RESULTS_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"error: {README}: no {RESULTS_BEGIN} ... {RESULTS_END} section to update")
    README.write_text(text[: begin + len(RESULTS_BEGIN)] + "\n" + markdown + "\n" + text[end:])
    log(f"updated {README.relative_to(ROOT)}")


# ---------------------------------------------------------------------------
# main


def find_tools(pmpoolctl: str | None) -> Tools:
    def need(name: str, hint: str) -> str:
        found = shutil.which(name)
        if found is None:
            raise SystemExit(f"error: {name} not found on PATH ({hint})")
        return found

    python = sys.executable
    script = pmpoolctl or str(Path(sys.prefix) / "bin" / "pmpoolctl")
    if not os.access(script, os.X_OK):
        raise SystemExit(
            f"error: {script} not found: run with the project's venv python (make bench), or give --pmpoolctl"
        )
    dtc = need("dtc", "Debian/Ubuntu: apt install device-tree-compiler")
    version = subprocess.run([dtc, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return Tools(
        python=python,
        pmpoolctl=script,
        fdtget=need("fdtget", "Debian/Ubuntu: apt install device-tree-compiler"),
        dtc=dtc,
        true=need("true", "coreutils"),
        dtc_version=version.removeprefix("Version: "),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes(DEFAULT_SIZES),
        help=f"pool sizes, comma separated (default {DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="timed runs per command after the warm-up (default 5; the targets need >= 5)",
    )
    parser.add_argument("--warmups", type=int, default=1, help="untimed warm-up runs per command (default 1)")
    parser.add_argument(
        "--memmap", type=Path, default=DEFAULT_MEMMAP, help="/proc/iomem text to place ranges in and validate against"
    )
    parser.add_argument("--pmpoolctl", help="the pmpoolctl executable (default: the one beside this python)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "--json", action="store_true", help="print the raw results (every sample) as JSON instead of the tables"
    )
    out.add_argument("--markdown", action="store_true", help="print the tables as markdown (for benchmarks/README.md)")
    parser.add_argument("--save-json", type=Path, metavar="FILE", help="also write the raw results as JSON to FILE")
    parser.add_argument(
        "--update-readme", action="store_true", help=f"also replace the Results section of {README.relative_to(ROOT)}"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmups < 0:
        parser.error("--runs must be at least 1 and --warmups at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    tools = find_tools(args.pmpoolctl)
    memmap: Path = args.memmap.resolve()
    workdir = CACHE_DIR / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    if args.runs < 5:
        log(f"note: --runs {args.runs}: the targets ask for the median of at least 5 runs")

    pools = {size_label(count): ensure_pool(count, memmap, tools) for count in args.sizes}
    machine = machine_info(tools)
    machine["argv"] = ["bench.py", *(sys.argv[1:] if argv is None else argv)]
    runner = Runner(tools.python, workdir / "stderr.txt")
    floor = runner.rss_floor(tools.true)

    results: dict[str, dict[str, Command]] = {}
    groups: list[tuple[str, list[Command]]] = [("startup", startup_commands(tools))]
    groups += [(label, pool_commands(pool, tools, memmap, workdir)) for label, pool in pools.items()]
    for label, commands in groups:
        log(f"measuring {label}: {len(commands)} commands x ({args.warmups} warm-up + {args.runs} runs), round-robin")
        group_started = time.perf_counter()
        measure(commands, args.runs, args.warmups, runner, tools)
        results[label] = {c.key: c for c in commands}
        log(f"  {time.perf_counter() - group_started:.1f} s")
    floor = max(floor, runner.rss_floor(tools.true))
    runner.close()
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    report = Report(
        machine=machine,
        runs=args.runs,
        warmups=args.warmups,
        floor_kib=floor,
        pools=pools,
        results=results,
        targets=evaluate_targets(results, pools),
        seconds_total=time.perf_counter() - started,
    )
    if args.json:
        print(json.dumps(report.json(), indent=2))
    elif args.markdown:
        print(report.markdown())
    else:
        print(report.text())
    if args.save_json is not None:
        args.save_json.write_text(json.dumps(report.json(), indent=2) + "\n")
        log(f"wrote {args.save_json}")
    if args.update_readme:
        update_readme(report.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
