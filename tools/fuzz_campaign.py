"""The long fuzz campaign: `python -m tools.fuzz_campaign --cases N --seed S [--jobs J]`.

Runs cases 0..N-1 of seed S (tests/helpers/fuzzing.py) across J processes, shows
progress on stderr, then prints counts per outcome, per mutator and per corpus
blob. Every failure is printed with its seed, case and description, and the
mutated blob is saved under --out (fuzz-failures/ by default) with a .txt
beside it, so that `--replay CASE` (or dump on the saved blob) reproduces it.
Exit 1 if any case failed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.fuzzing import corpus, run_case

_WORK_DIR: Path | None = None  # each worker's scratch directory
_SETTINGS: tuple[str, int, bool, Path] | None = None  # dtc, seed, dts, scratch root


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back for one case (the blob only when the case failed)."""

    case: int
    sample: str
    kind: str
    label: str
    outcomes: tuple[str, ...]
    failures: tuple[str, ...]
    slowest: float
    data: bytes | None


def _init_worker(dtc: str, seed: int, dts: bool, scratch: Path) -> None:
    global _SETTINGS  # noqa: PLW0603 - per-process state of a multiprocessing worker
    _SETTINGS = (dtc, seed, dts, scratch)


def _work(case: int) -> Outcome:
    global _WORK_DIR  # noqa: PLW0603 - per-process state of a multiprocessing worker
    assert _SETTINGS is not None
    dtc, seed, dts, scratch = _SETTINGS
    if _WORK_DIR is None:
        _WORK_DIR = Path(tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=scratch))
    result = run_case(dtc, seed, case, _WORK_DIR, dts=dts)
    mutant, checked = result.mutant, result.checked
    return Outcome(
        case,
        mutant.sample,
        mutant.kind,
        mutant.label,
        tuple(checked.outcomes),
        tuple(checked.failures),
        checked.slowest,
        mutant.data if checked.failures else None,
    )


def _scratch_root() -> str | None:
    """tmpfs when there is one: edits fsync, and a disk makes that the slowest part of a case."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _table(title: str, rows: dict[str, Counter[str]], columns: Sequence[str]) -> list[str]:
    width = max([len(title), *(len(name) for name in rows)])
    widths = [max(len(column), 7) for column in columns]
    lines = [f"{title:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(columns, widths))]
    lines.append("-" * len(lines[0]))
    for name in sorted(rows):
        counts = rows[name]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{counts[c]:>{w}}" for c, w in zip(columns, widths)))
    return lines


def report(results: Sequence[Outcome], seconds: float, seed: int, out: Path) -> int:
    """Print the tables and the failures, save the failing blobs; the exit code."""
    outcomes: Counter[str] = Counter()
    failure_kinds: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    by_sample: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        outcomes.update(r.outcomes)
        failure_kinds.update({f.split(":", 1)[0] for f in r.failures})
        for row in (by_kind[r.kind], by_sample[r.sample]):
            row["cases"] += 1
            row.update(o for o in r.outcomes if o in ("refused", "accepted", "edited", "edit-refused"))
            row["failed"] += bool(r.failures)
    failed = [r for r in results if r.failures]
    print(f"\n{len(results)} cases of seed {seed} in {seconds:.1f} s ({len(results) / max(seconds, 1e-9):.1f} cases/s)")
    slowest = max(results, key=lambda r: r.slowest, default=None)
    if slowest is not None:
        print(f"slowest pmpoolctl command: {slowest.slowest:.3f} s ({slowest.label})")
    print()
    width = max((len(name) for name in outcomes), default=10)
    print(f"{'outcome':<{width}}  {'cases':>7}")
    print("-" * (width + 9))
    for name, count in sorted(outcomes.items()):
        print(f"{name:<{width}}  {count:>7}")
    print(f"{'FAILED':<{width}}  {len(failed):>7}")
    columns = ("cases", "refused", "accepted", "edited", "edit-refused", "failed")
    print()
    print("\n".join(_table("mutator", by_kind, columns)))
    print()
    print("\n".join(_table("corpus blob", by_sample, columns)))
    if not failed:
        print("\nno failures")
        return 0
    print("\nfailures by kind: " + ", ".join(f"{kind} {count}" for kind, count in sorted(failure_kinds.items())))
    out.mkdir(parents=True, exist_ok=True)
    print(f"\n{len(failed)} failing cases, blobs in {out}/ (python -m tools.fuzz_campaign --seed {seed} --replay N)")
    for r in sorted(failed, key=lambda r: r.case):
        stem = out / f"seed{seed}-case{r.case}"
        assert r.data is not None
        stem.with_suffix(".dtb").write_bytes(r.data)
        stem.with_suffix(".txt").write_text(r.label + "\n" + "".join(f"  {f}\n" for f in r.failures))
        print(r.label)
        for failure in r.failures:
            print(f"  {failure}")
    return 1


def campaign(dtc: str, seed: int, cases: Iterable[int], jobs: int, dts: bool) -> tuple[list[Outcome], float]:
    case_list = list(cases)
    corpus(dtc)  # built once here; forked workers inherit it
    start = time.perf_counter()
    results: list[Outcome] = []
    failures = 0
    last = 0.0
    with tempfile.TemporaryDirectory(prefix="pmpoolctl-fuzz-", dir=_scratch_root()) as scratch:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs, initializer=_init_worker, initargs=(dtc, seed, dts, Path(scratch))) as pool:
            for outcome in pool.imap_unordered(_work, case_list, chunksize=8):
                results.append(outcome)
                failures += bool(outcome.failures)
                now = time.perf_counter()
                if now - last > 2 or len(results) == len(case_list):
                    last = now
                    elapsed = now - start
                    rate = len(results) / max(elapsed, 1e-9)
                    eta = (len(case_list) - len(results)) / max(rate, 1e-9)
                    print(
                        f"[{len(results)}/{len(case_list)}] {elapsed:.0f} s, {rate:.1f} cases/s, "
                        f"{failures} failing, eta {eta:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    return results, time.perf_counter() - start


def replay(dtc: str, seed: int, cases: Sequence[int], dts: bool, out: Path) -> int:
    failed = 0
    with tempfile.TemporaryDirectory(prefix="pmpoolctl-replay-") as scratch:
        for case in cases:
            result = run_case(dtc, seed, case, Path(scratch), dts=dts)
            mutant, checked = result.mutant, result.checked
            out.mkdir(parents=True, exist_ok=True)
            saved = out / f"seed{seed}-case{case}.dtb"
            saved.write_bytes(mutant.data)
            print(mutant.label)
            print(f"  blob: {saved} ({len(mutant.data)} bytes)")
            print(f"  outcomes: {', '.join(checked.outcomes)}; slowest command {checked.slowest:.3f} s")
            for failure in checked.failures:
                print(f"  FAIL {failure}")
            failed += bool(checked.failures)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fuzz_campaign",
        description="A seeded mutation fuzz campaign over pmpoolctl, dtc the oracle (tests/helpers/fuzzing.py).",
    )
    parser.add_argument("--cases", type=int, default=20000, help="how many cases (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="the campaign's seed (default 1)")
    parser.add_argument("--first", type=int, default=0, help="the first case number (default 0)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="where failing blobs go")
    parser.add_argument("--no-dts", action="store_true", help="skip the dump --dts round trip (faster)")
    parser.add_argument("--replay", type=int, nargs="+", metavar="CASE", help="run these cases and say why")
    args = parser.parse_args(argv)
    dtc = shutil.which("dtc")
    if dtc is None:
        print("error: dtc (device-tree-compiler) is the fuzzer's oracle; install it", file=sys.stderr)
        return 2
    if args.replay:
        return replay(dtc, args.seed, args.replay, not args.no_dts, args.out)
    cases = range(args.first, args.first + args.cases)
    print(f"fuzzing cases {cases.start}..{cases.stop - 1} of seed {args.seed} with {args.jobs} jobs", file=sys.stderr)
    results, seconds = campaign(dtc, args.seed, cases, max(args.jobs, 1), not args.no_dts)
    return report(results, seconds, args.seed, args.out)


if __name__ == "__main__":
    sys.exit(main())
