"""`validate --metrics FILE`: the verdict as a Prometheus textfile, for node_exporter's textfile collector.

Every series carries the pool's path as `pool`; `pmpool_findings` has one series per rule
of the registry (0 where a rule found nothing, so an alert can resolve), at the rule's
severity, and one more for a rule a finding raised to another severity; `pmpool_rule_checked`
says which rules had their input (0: nothing checked, as JUnit skips it). A run that
reaches no verdict (a blob or map that cannot be read) writes `pmpool_validate_ok 0` and
its exit code, so a stale passing file never outlives a failed run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: `dump` need not import the validator
    from pmpoolctl.check.validate import Report


EXIT_CODE_HELP = "The exit code of the last validation (-1: it did not finish)."


def label_value(text: str) -> str:
    """A label value as the text format quotes it: backslash, double quote and newline escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{label_value(value)}"' for name, value in pairs) + "}"


def _family(name: str, help_text: str, samples: list[tuple[list[tuple[str, str]], str]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{_labels(labels)} {value}" for labels, value in samples]
    return lines


def _timestamp(seconds: float) -> str:
    return f"{seconds:.3f}"


def metrics_text(
    report: Report, ok: bool, exit_code: int, timestamp: float, skipped: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The textfile of a validation that reached its verdict; `skipped` are the (rule, why) of the
    rules that checked nothing (`Validation.skipped`): 0 in `pmpool_rule_checked`, as JUnit skips them."""
    from pmpoolctl.check.rules import RULES

    pool = [("pool", report.pool.path)]
    not_run = {rule for rule, _ in skipped}
    counts: dict[tuple[str, str], int] = {(rule.id, rule.severity.value): 0 for rule in RULES}
    for finding in report.findings:
        key = (finding.rule, finding.severity.value)
        counts[key] = counts.get(key, 0) + finding.count
    lines = [
        *_family(
            "pmpool_validate_ok",
            "1 when the last validation passed (no error; no warning with --strict), 0 when it did not.",
            [(pool, "1" if ok else "0")],
        ),
        *_family("pmpool_validate_exit_code", EXIT_CODE_HELP, [(pool, str(exit_code))]),
        *_family(
            "pmpool_findings",
            "Findings of the last validation, per rule and severity.",
            [([*pool, ("rule", rule), ("severity", severity)], str(n)) for (rule, severity), n in counts.items()],
        ),
        *_family(
            "pmpool_rule_checked",
            "1 when the rule had its input in the last validation, 0 when it checked nothing (JUnit skips it).",
            [([*pool, ("rule", rule.id)], "0" if rule.id in not_run else "1") for rule in RULES],
        ),
        *_family("pmpool_ranges", "Ranges in the pool checked.", [(pool, str(len(report.pool.ranges)))]),
        *_family("pmpool_bytes", "Bytes in the pool checked.", [(pool, str(report.pool.ranges.total_size))]),
        *_family(
            "pmpool_validate_timestamp_seconds",
            "When the last validation ran, in seconds since the epoch.",
            [(pool, _timestamp(timestamp))],
        ),
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def metrics_error_text(pool_path: str, exit_code: int, timestamp: float) -> bytes:
    """The textfile of a validation that did not reach a verdict: not ok, with its exit code.

    The exit code is -1 in the stand-in written before the check starts: a run killed
    meanwhile leaves that, never an older passing file.
    """
    pool = [("pool", pool_path)]
    lines = [
        *_family(
            "pmpool_validate_ok",
            "1 when the last validation passed (no error; no warning with --strict), 0 when it did not.",
            [(pool, "0")],
        ),
        *_family("pmpool_validate_exit_code", EXIT_CODE_HELP, [(pool, str(exit_code))]),
        *_family(
            "pmpool_validate_timestamp_seconds",
            "When the last validation ran, in seconds since the epoch.",
            [(pool, _timestamp(timestamp))],
        ),
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")
