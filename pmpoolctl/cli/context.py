"""One run's state, on the root click context (`ctx.obj`): the global options and what the exit code must honour."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, ClassVar

import click

if TYPE_CHECKING:
    from pmpoolctl.files.safewrite import Target
    from pmpoolctl.output.console import Console
    from pmpoolctl.output.junit import RunContext

_DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# Each request's `target` is FILE resolved once, when the run claims its reports (cli/reportpaths.py):
# the placeholder, the report and an error report all replace that same file.


@dataclass
class _CommandReport:
    """A report of one command's run, about its subject: the blob or KHO state checked, once known."""

    option: ClassVar[str]
    called: ClassVar[str]  # in messages: "the --junit report could not be written"
    path: str
    command: str
    subject: str | None = None
    target: Target | None = field(default=None, repr=False)


@dataclass
class JUnitRequest(_CommandReport):
    """`--junit FILE`: the report that must say how this run ended, whatever ended it."""

    option: ClassVar[str] = "--junit"
    called: ClassVar[str] = "--junit report"


@dataclass
class HtmlRequest(_CommandReport):
    """`--html FILE`: a page that must not outlive a failed run as if it were its report."""

    option: ClassVar[str] = "--html"
    called: ClassVar[str] = "--html report"


@dataclass
class SvgRequest(_CommandReport):
    """`--svg FILE`: a picture that must not outlive a failed run as if it were its picture."""

    option: ClassVar[str] = "--svg"
    called: ClassVar[str] = "--svg picture"


@dataclass
class MetricsRequest:
    """`--metrics FILE`: the textfile that must say how this run ended (not ok, when it reached no verdict)."""

    option: ClassVar[str] = "--metrics"
    called: ClassVar[str] = "--metrics file"
    path: str
    pool: str = ""  # the pool's path, once the command knows it
    target: Target | None = field(default=None, repr=False)


ReportRequest = JUnitRequest | HtmlRequest | SvgRequest | MetricsRequest


@dataclass
class Run:
    """One run: the global options, where its output goes, and what the exit code must honour.

    `verdict` is the answer of validate or diff once it is known: a report that is
    then lost (a closed pipe, a full disk) does not change it. `committed` is the
    file an edit wrote: from then on the run has succeeded, whatever happens to its
    summary line. `junit`, `html`, `svg` and `metrics` are replaced by error reports when the
    run fails; `claimed` says their paths were checked against `input_files`, what the run reads.
    """

    debug: bool = False
    no_color: bool = False
    quiet: bool = False  # nothing on stdout: `stdout` is /dev/null
    json: bool = False  # --json: a failure is a pmpoolctl.error/v1 document on stdout too
    ascii: bool = False  # --ascii: tables drawn in ASCII whatever stdout can encode
    verdict: int | None = None
    committed: str | None = None
    junit: JUnitRequest | None = None
    html: HtmlRequest | None = None
    svg: SvgRequest | None = None
    metrics: MetricsRequest | None = None
    claimed: bool = False
    input_files: dict[tuple[int, int], str] = field(default_factory=dict)  # (st_dev, st_ino) -> how it was named
    started: float = field(default_factory=time.time)  # wall clock, for reports' timestamps
    clock: float = field(default_factory=time.monotonic)  # for how long the run took
    saved_handlers: list[tuple[int, Any]] = field(default_factory=list)
    deferred_signal: int | None = None
    standalone: bool = False  # the process is this run (the command), not a test or a script calling it
    _null: IO[str] | None = None

    @property
    def stdout(self) -> IO[str]:
        """Where the run's output goes: standard output, or /dev/null under --quiet."""
        if not self.quiet:
            return sys.stdout
        if self._null is None:
            self._null = open(os.devnull, "w")  # noqa: SIM115 - closed by close()
        return self._null

    def close(self) -> None:
        if self._null is not None:
            self._null.close()
            self._null = None

    def reports(self) -> list[ReportRequest]:
        """The report files this run writes."""
        return [r for r in (self.junit, self.html, self.svg, self.metrics) if r is not None]

    def drop_report(self, request: ReportRequest) -> None:
        """Write nothing more to `request`'s FILE (it was refused): not even an error report."""
        for name in ("junit", "html", "svg", "metrics"):
            if getattr(self, name) is request:
                setattr(self, name, None)
        if request.target is not None:
            request.target.close()

    def close_reports(self) -> None:
        """Let go of the report files' directories, held since they were resolved."""
        for request in self.reports():
            if request.target is not None:
                request.target.close()

    def console(self) -> Console:
        from pmpoolctl.output.console import make_console

        return make_console(no_color=self.no_color, file=self.stdout, ascii=self.ascii)

    def print_json(self, document: Any) -> None:
        from pmpoolctl.output.jsonwriter import write_json

        stream = self.stdout
        stream.flush()  # JSON goes to the byte stream under it
        raw: IO[bytes] = stream.buffer  # type: ignore[attr-defined]  # io's text streams: sys.stdout or /dev/null
        write_json(raw.write, document)
        raw.flush()

    def report_context(self, properties: Sequence[tuple[str, str]] = ()) -> RunContext:
        """When, where and how long this run ran, for a report (JUnit); `properties` say with what."""
        from pmpoolctl.output.junit import RunContext

        return RunContext(self.started, time.monotonic() - self.clock, properties)

    def committed_to(self, target: str) -> None:
        """From the rename on, the edit has happened: the run has succeeded (cli.md)."""
        self.committed = target

    def defer_signals(self) -> None:
        """From now on SIGINT, SIGTERM and SIGHUP wait: the edit is being committed.

        In the command's own process they are blocked until it exits, so that not even
        the interpreter's shutdown (which gives signals their default action back) can
        let one end the process after the rename, as if the edit had failed.
        """
        for signum in _DEFERRED_SIGNALS:
            try:
                self.saved_handlers.append((signum, signal.signal(signum, self._defer)))
            except ValueError:  # not the main thread: there is nothing to defer
                return
        self.hold_signals()

    def hold_signals(self) -> None:
        """Block SIGINT, SIGTERM and SIGHUP for the rest of a standalone run: the exit code is decided."""
        if self.standalone:
            signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)

    def _defer(self, signum: int, frame: FrameType | None) -> None:
        self.deferred_signal = signum

    def restore_signals(self) -> None:
        while self.saved_handlers:
            signum, handler = self.saved_handlers.pop()
            signal.signal(signum, handler)


def run_of(ctx: click.Context) -> Run:
    """The run a command belongs to (made when a command is invoked without the group's main)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Run()
    run: Run = root.obj
    return run
