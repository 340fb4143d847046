"""The command group and its `main`: the one place that turns a run's end into an exit code.

Commands are parse -> `pmpoolctl.api` -> render -> exit code, one module per command group
(inspect, edit, check, kho). Their errors rise to `PmpoolGroup.main`, which turns
exceptions into an `error:` line and an exit code (cli.md: 0 ok, 1 findings/differences,
2 usage, 3 input, 70 bug; `exitcodes`), keeps a verdict once it is known, and replaces the
--junit, --html, --svg and --metrics reports when the run fails.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from pmpoolctl import __version__
from pmpoolctl.cli import check, edit, exitcodes, inspect, kho, pictures
from pmpoolctl.cli.context import HtmlRequest, JUnitRequest, MetricsRequest, ReportRequest, Run, run_of
from pmpoolctl.cli.options import common_options
from pmpoolctl.cli.reportpaths import claim_after_usage_error, write_report
from pmpoolctl.errors import OutputError, PmpoolError
from pmpoolctl.files.inputs import display_name
from pmpoolctl.text import printable


class PmpoolGroup(click.Group):
    """A group whose `main` owns error reporting and exit codes for every command."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        _complete_if_asked(self, extra, prog_name or "pmpoolctl")
        settings = Run(standalone=args is None)
        # A run is one short process, and what it builds is acyclic (arrays, bytes, a tree's nodes):
        # the cyclic collector would only traverse it again, 80 ms for a tree of 100,000 nodes once
        # the strict reader has built it. The few cycles a run makes go with the process. Called
        # in-process (a test, a script), the caller's setting comes back.
        collecting = gc.isenabled()
        gc.disable()
        try:
            code = self._run(settings, prog_name or "pmpoolctl", argv, extra)
        finally:
            settings.close_reports()
            if collecting and args is not None:
                gc.enable()
            # Called in-process (a test, a script: args given), the caller's handlers come back.
            # A real run keeps signals deferred after a commit until the process is gone.
            if args is not None:
                settings.restore_signals()
        settings.hold_signals()  # a Ctrl-C now, while the interpreter shuts down, cannot change the exit code
        sys.exit(code)

    def _run(self, settings: Run, prog_name: str, argv: list[str], extra: dict[str, Any]) -> int:
        """The exit code of one run: the command's, or the one its failure maps to (cli.md)."""
        if not argv:  # bare `pmpoolctl`: the help, on stdout, and the usage status (no command given)
            with contextlib.suppress(OSError):
                sys.stdout.write(self.get_help(click.Context(self, info_name=prog_name)) + "\n")
                sys.stdout.flush()
            return exitcodes.USAGE
        try:
            try:
                with self.make_context(prog_name, argv, obj=settings, **extra) as ctx:
                    code = self.invoke(ctx)
            except click.exceptions.Exit as exc:  # --help, --version
                code = exc.exit_code
            _flush_stdout()
            return code if isinstance(code, int) else exitcodes.OK
        except (OutputError, BrokenPipeError) as exc:
            return _output_lost(settings, exc)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else self._command_path(prog_name, argv)
            message = f"{_usage_message(exc)} (see '{command} --help')"
            # A usage error click found before the command ran: its reports still record it (and --json prints
            # the error document), as for any other failure; those that may not be written are said.
            refusals = claim_after_usage_error(settings, self, prog_name, argv)
            return _failed(settings, "; and ".join([message, *refusals]), exitcodes.USAGE)
        except click.exceptions.Abort:
            return _failed(settings, "aborted", exitcodes.INPUT)
        except PmpoolError as exc:
            _traceback(settings)
            return _failed(settings, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            return _failed(settings, "interrupted", exitcodes.INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug
            _traceback(settings)
            return _failed(
                settings,
                f"internal error: {type(exc).__name__}: {exc} (a bug in pmpoolctl {__version__}; "
                "rerun with --debug for the traceback)",
                exitcodes.INTERNAL,
            )

    def _command_path(self, prog_name: str, argv: list[str]) -> str:
        """`pmpoolctl kho validate`: the commands named in `argv`, for an error raised before a context had them."""
        path: list[str] = [prog_name]
        group: click.Group = self
        for word in argv:
            command = group.commands.get(word)
            if command is None:
                if not word.startswith("-") and len(path) > 1:
                    break  # an argument of the command found last
                continue
            path.append(word)
            if not isinstance(command, click.Group):
                break
            group = command
        return " ".join(path)


# Options that take two values, and how to give them.
_PAIRS = {"--range": "--range BASE SIZE (e.g. --range 0x100000000 2M)"}


def _usage_message(exc: click.UsageError) -> str:
    """click's message, or for a two-value option given fewer values, which values it needs."""
    if isinstance(exc, click.BadOptionUsage) and exc.option_name in _PAIRS:
        return f"{exc.option_name} needs two values, BASE and SIZE: {_PAIRS[exc.option_name]}"
    return exc.format_message()


def _traceback(settings: Run) -> None:
    if settings.debug:
        import traceback

        with contextlib.suppress(Exception):
            traceback.print_exc()


def _say(line: str) -> None:
    """One line on stderr; a closed or full stderr loses it, but never changes the exit code."""
    with contextlib.suppress(Exception):
        stream = sys.stderr
        if stream is not None:
            stream.write(printable(line) + "\n")  # the parts are escaped already; this keeps it one line
            stream.flush()


def _flush_stdout() -> None:
    stream = sys.stdout
    if stream is not None:
        stream.flush()


def _failed(settings: Run, message: str, code: int) -> int:
    """The exit code of a run that failed with `message`, which is said on stderr.

    A run whose edit was committed has succeeded: what failed after it (printing the
    summary, a bug in it) is a warning, and the exit code is 0. Any other failure
    replaces each report (--junit, --html, --svg, --metrics) with one that records it,
    so no earlier PASS survives.
    """
    if settings.committed is not None:
        _say(f"warning: {message} (after writing {display_name(settings.committed)}: the edit was made)")
        return exitcodes.OK
    said = [message]  # each failure once: the report that failed is often what `message` is about
    for what, problem in _replace_reports(settings, message, code):
        if problem not in said:
            said.append(problem)
            said[0] += f"; and the {what} could not be written: {problem}"
    message = said[0]
    _say(f"error: {message}")
    if settings.json and not settings.quiet:
        _print_error_json(settings, message, code)
    return code


ERROR_SCHEMA = "pmpoolctl.error/v1"


def _print_error_json(settings: Run, message: str, code: int) -> None:
    """The failure as JSON on stdout, for a script that reads only stdout (cli.md)."""
    with contextlib.suppress(OSError):  # a stdout that fails has had its say already
        settings.print_json({"schema": ERROR_SCHEMA, "exit_code": code, "message": message})


def _output_lost(settings: Run, exc: OSError) -> int:
    """The exit code when standard output failed: the verdict if there was one, never a pass.

    A closed pipe (EPIPE) is what `| head` does: no message, and a passing run ends as a
    C tool killed by SIGPIPE would (141). Any other failure (a full disk, a closed
    stdout) is said on stderr; it is exit 3 unless the verdict was already a refusal.
    """
    closed_pipe = exc.errno == errno.EPIPE
    reason = f"standard output: cannot write: {exc.strerror or exc}"
    if settings.committed is not None:
        if not closed_pipe:
            _say(f"warning: {reason} (after writing {display_name(settings.committed)}: the edit was made)")
        return exitcodes.OK
    if settings.verdict is not None and settings.verdict != exitcodes.OK:
        if not closed_pipe:
            _say(f"error: {reason}")
        return settings.verdict
    if closed_pipe:
        _replace_reports(
            settings, "standard output was closed before the run's output was written", exitcodes.BROKEN_PIPE
        )
        return exitcodes.BROKEN_PIPE
    return _failed(settings, reason, exitcodes.INPUT)


_WHAT = {
    "--junit": "--junit report",
    "--html": "--html report",
    "--svg": "--svg picture",
    "--metrics": "--metrics file",
}


def _error_report(settings: Run, request: ReportRequest, message: str, code: int) -> bytes:
    """What `request`'s FILE says of a run that failed with `message` and exits with `code`."""
    if isinstance(request, MetricsRequest):
        from pmpoolctl.output.metrics import metrics_error_text

        return metrics_error_text(request.pool, code, settings.started)
    if isinstance(request, JUnitRequest):
        from pmpoolctl.output.junit import junit_error_xml

        return junit_error_xml(request.command, request.subject, message, code, settings.report_context())
    if isinstance(request, HtmlRequest):
        from pmpoolctl.output.html import html_error_page

        return html_error_page(request.command, request.subject, message, code).encode()
    from pmpoolctl.output.svg import svg_error_document

    return svg_error_document(request.command, request.subject, message, code).encode()


def _replace_reports(settings: Run, message: str, code: int) -> list[tuple[str, str]]:
    """Each report replaced with one that records this failure; (what, why) for each that could not be."""
    problems = []
    for request in settings.reports():
        try:
            write_report(settings, request, _error_report(settings, request, message, code))
        except PmpoolError as exc:
            problems.append((request.called, str(exc)))
    return problems


@click.group("pmpoolctl", cls=PmpoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="pmpoolctl")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@common_options
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Inspect, edit and validate persistent memory pool (pmpool-v1) device-tree blobs.

    A pool lists the pages a running kernel has handed to a hypervisor; the
    next kernel, after kexec, must leave them alone. pmpoolctl reads and edits
    the pool node in a .dtb without touching anything else in it.

    \b
    Example:
      pmpoolctl dump /sys/firmware/fdt
      pmpoolctl add-range next.dtb 0x180000000 64M
      pmpoolctl validate next.dtb --live --strict --junit pre-kexec.xml
      pmpoolctl diff /sys/firmware/fdt next.dtb
    """
    run_of(ctx).debug = debug


for _command in (inspect.dump, inspect.memmap, inspect.capture, pictures.map_command, edit.create, edit.add_range,
                 edit.remove_range, edit.canonicalize, check.diff, check.validate, kho.kho):  # fmt: skip
    cli.add_command(_command)


def _complete_if_asked(group: click.Group, context_settings: dict[str, Any], prog_name: str) -> None:
    """`eval "$(_PMPOOLCTL_COMPLETE=bash_source pmpoolctl)"` and friends: answer with click's completion and exit."""
    variable = f"_{prog_name.replace('-', '_').replace('.', '_')}_COMPLETE".upper()
    instruction = os.environ.get(variable)
    if instruction:
        from click.shell_completion import shell_complete

        sys.exit(shell_complete(group, context_settings, prog_name, variable, instruction))


def main() -> None:
    """The command, as the console script and `python -m pmpoolctl` run it (see `pmpoolctl.__main__`)."""
    from pmpoolctl.__main__ import main as entry

    entry()
