"""The pmpoolctl command line: parse arguments, call the library, render, exit.

Command bodies are short: they call the layers below and let errors rise to
`PmpoolGroup.main`, the one place that turns exceptions into an `error:` line
and an exit code (cli.md: 0 ok, 1 findings/differences, 2 usage, 3 input, 70 bug).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import signal
import sys
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pmpoolctl import __version__
from pmpoolctl.cli import exitcodes as exit_code
from pmpoolctl.dtb.model import Blob
from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.dtb.writer import build_minimal_blob
from pmpoolctl.errors import EditError, InputError, NumberError, OutputError, PmpoolError
from pmpoolctl.files.inputs import STDIN, decode_text, display_name, read_blob_bytes, read_input
from pmpoolctl.files.safewrite import locked, resolve_target, write_atomic, write_file
from pmpoolctl.numbers import parse_number
from pmpoolctl.pool.binding import DEFAULT_PAGE_SIZE, DEFAULT_POOL, MAX_PAGE_SIZE, MIN_PAGE_SIZE, pool_name_of
from pmpoolctl.ranges.rangeset import Range
from pmpoolctl.text import printable

if TYPE_CHECKING:  # annotations only: each command imports what it runs when it runs
    from pmpoolctl.check.findings import Finding
    from pmpoolctl.check.validate import Zone
    from pmpoolctl.kho import KhoState
    from pmpoolctl.kho.cmdline import NextCmdline
    from pmpoolctl.memmap.model import MapEntry, MemoryMap
    from pmpoolctl.pool.binding import Pool
    from pmpoolctl.ranges.rangearray import RangeArray

EXIT_OK = exit_code.OK
EXIT_FINDINGS = exit_code.FINDINGS
EXIT_USAGE = exit_code.USAGE
EXIT_INPUT = exit_code.INPUT
EXIT_INTERNAL = exit_code.INTERNAL


class NumberType(click.ParamType):  # type: ignore[type-arg]
    """An address or size: decimal, 0x hex, K/M/G/T/P/E suffixes, at most 64 bits."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_number(str(value))
        except NumberError as exc:
            self.fail(str(exc), param, ctx)


NUMBER = NumberType()


class PathType(click.Path):
    """A path as typed; shells complete it as a file.

    Only what can never name a file is refused here (a NUL byte, text the file system
    cannot encode: from a script, as argv cannot hold them); whether the file can be read
    is the command's to say, with its own exit 3 (readable=True would make that exit 2).
    """

    def __init__(self) -> None:
        super().__init__(readable=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            try:
                encoded = os.fsencode(value)
            except UnicodeEncodeError:
                self.fail(f"'{display_name(value)}' is not a file name (not encodable text)", param, ctx)
            if b"\0" in encoded:
                self.fail(f"'{display_name(value)}' is not a file name (it holds a NUL byte)", param, ctx)
        return super().convert(value, param, ctx)


PATH = PathType()


def _pool_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    name = pool_name_of(value)
    if name is None:
        shown = display_name(value)
        raise click.BadParameter(
            f"'{shown}' is not a node name or /NAME (letters, digits and ,._+- only, no unit address)"
        )
    return name


def _page_size(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if not MIN_PAGE_SIZE <= value <= MAX_PAGE_SIZE or value & (value - 1):
        raise click.BadParameter(
            f"{value} is not a power of two from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE:#x} (page-size is a u32)"
        )
    return value


pool_option = click.option(
    "--pool",
    "pool_name",
    default=DEFAULT_POOL,
    show_default=True,
    callback=_pool_name,
    metavar="NAME",
    help="The pool node, a child of the root: NAME or /NAME (as dump prints it).",
)

_DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class JUnitRequest:
    """`--junit FILE`: the report that must say how this run ended, whatever ended it."""

    path: str
    command: str
    subject: str | None = None  # the blob or KHO state checked, once the command knows it


@dataclass
class Settings:
    """One run's state: the global options, and what the exit code must honour.

    `verdict` is the answer of validate or diff once it is known: a report that is
    then lost (a closed pipe, a full disk) does not change it. `committed` is the
    file an edit wrote: from then on the run has succeeded, whatever happens to its
    summary line. `junit` is replaced by an error report when the run fails.
    """

    debug: bool = False
    no_color: bool = False
    quiet: bool = False
    json: bool = False  # --json: a failure is a pmpoolctl.error/v1 document on stdout too
    verdict: int | None = None
    committed: str | None = None
    junit: JUnitRequest | None = None
    saved_handlers: list[tuple[int, Any]] = field(default_factory=list)
    deferred_signal: int | None = None
    standalone: bool = False  # the process is this run (the command), not a test or a script calling it

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


class PmpoolGroup(click.Group):
    """A group whose `main` owns error reporting and exit codes for every command."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        # `eval "$(_PMPOOLCTL_COMPLETE=bash_source pmpoolctl)"` and friends: click answers and exits.
        self._main_shell_completion(extra, prog_name or "pmpoolctl")
        settings = Settings(standalone=args is None)
        try:
            code = self._run(settings, prog_name or "pmpoolctl", argv, extra)
        finally:
            # Called in-process (a test, a script: args given), the caller's handlers come back.
            # A real run keeps signals deferred after a commit until the process is gone.
            if args is not None:
                settings.restore_signals()
        settings.hold_signals()  # a Ctrl-C now, while the interpreter shuts down, cannot change the exit code
        sys.exit(code)

    def _run(self, settings: Settings, prog_name: str, argv: list[str], extra: dict[str, Any]) -> int:
        """The exit code of one run: the command's, or the one its failure maps to (cli.md)."""
        try:
            try:
                with self.make_context(prog_name, argv, obj=settings, **extra) as ctx:
                    code = self.invoke(ctx)
            except click.exceptions.Exit as exc:  # --help, --version
                code = exc.exit_code
            _flush_stdout()
            return code if isinstance(code, int) else EXIT_OK
        except (OutputError, BrokenPipeError) as exc:
            return _output_lost(settings, exc)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else prog_name
            return _failed(settings, f"{exc.format_message()} (see '{command} --help')", EXIT_USAGE)
        except click.exceptions.Abort:
            return _failed(settings, "aborted", EXIT_INPUT)
        except PmpoolError as exc:
            _traceback(settings)
            return _failed(settings, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            return _failed(settings, "interrupted", exit_code.INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug
            _traceback(settings)
            return _failed(
                settings,
                f"internal error: {type(exc).__name__}: {exc} (a bug in pmpoolctl {__version__}; "
                "rerun with --debug for the traceback)",
                EXIT_INTERNAL,
            )


def _traceback(settings: Settings) -> None:
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


def _failed(settings: Settings, message: str, code: int) -> int:
    """The exit code of a run that failed with `message`, which is said on stderr.

    A run whose edit was committed has succeeded: what failed after it (printing the
    summary, a bug in it) is a warning, and the exit code is 0. Any other failure
    replaces the --junit report with one that records it, so no earlier PASS survives.
    """
    if settings.committed is not None:
        _say(f"warning: {message} (after writing {display_name(settings.committed)}: the edit was made)")
        return EXIT_OK
    if settings.junit is not None:
        problem = _write_junit_error(settings.junit, message, code)
        if problem is not None:
            message += f"; and the --junit report could not be written: {problem}"
    _say(f"error: {message}")
    if settings.json and not settings.quiet:
        _print_error_json(message, code)
    return code


ERROR_SCHEMA = "pmpoolctl.error/v1"


def _print_error_json(message: str, code: int) -> None:
    """The failure as JSON on stdout, for a script that reads only stdout (cli.md)."""
    with contextlib.suppress(OSError):  # a stdout that fails has had its say already
        _print_json({"schema": ERROR_SCHEMA, "exit_code": code, "message": message})


def _output_lost(settings: Settings, exc: OSError) -> int:
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
        return EXIT_OK
    if settings.verdict is not None and settings.verdict != EXIT_OK:
        if not closed_pipe:
            _say(f"error: {reason}")
        return settings.verdict
    if closed_pipe:
        if settings.junit is not None:
            _write_junit_error(settings.junit, "standard output was closed before the run's output was written", 141)
        return exit_code.BROKEN_PIPE
    return _failed(settings, reason, EXIT_INPUT)


def _write_junit_error(request: JUnitRequest, message: str, code: int) -> str | None:
    """Replace the --junit report with one that records this failure; what went wrong, if that failed."""
    from pmpoolctl.output.junit import junit_error_xml

    try:
        write_file(request.path, junit_error_xml(request.command, request.subject, message, code))
    except PmpoolError as exc:
        return str(exc)
    return None


def _print_json(document: Any) -> None:
    from pmpoolctl.output.jsonwriter import write_json

    sys.stdout.flush()  # JSON goes to the byte stream under it
    write_json(sys.stdout.buffer.write, document)
    sys.stdout.buffer.flush()


def _settings(ctx: click.Context) -> Settings:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Settings()
    settings: Settings = root.obj
    return settings


def _console(ctx: click.Context) -> Any:
    from pmpoolctl.output.console import make_console

    settings = _settings(ctx)
    return make_console(no_color=settings.no_color)


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not _settings(ctx).quiet:
        _settings(ctx).quiet = True
        # Nothing goes to stdout, whatever writes it (tables, JSON, DTS); errors still go to stderr.
        devnull = ctx.find_root().with_resource(open(os.devnull, "w"))  # noqa: SIM115 - closed with the context
        saved = sys.stdout
        sys.stdout = devnull
        ctx.find_root().call_on_close(lambda: setattr(sys, "stdout", saved))


def _set_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _settings(ctx).no_color = True


quiet_option = click.option(
    "-q",
    "--quiet",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_quiet,
    help="Print nothing on stdout; the exit code tells (errors still go to stderr).",
)
no_color_option = click.option(
    "--no-color",
    is_flag=True,
    expose_value=False,
    callback=_set_no_color,
    help="No colour in output (NO_COLOR is honoured too).",
)


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        _settings(ctx).json = True
    return value


def json_option(schema: str) -> Callable[[Any], Any]:
    """--json: the output as `schema`; a failed run prints a pmpoolctl.error/v1 document instead."""
    return click.option(
        "--json", "as_json", is_flag=True, is_eager=True, callback=_remember_json, help=f"Print JSON (schema {schema})."
    )


def _options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator, in the order given."""

    def apply(function: Any) -> Any:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def common_options(function: Any) -> Any:
    """--quiet and --no-color, which every command takes as well as the group."""
    return quiet_option(no_color_option(function))


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
    _settings(ctx).debug = debug


def load_blob(path: str, source: str | None = None) -> Blob:
    """The blob in `path` (- for stdin), named `source` (the path as shown) in messages."""
    shown = display_name(path) if source is None else source
    return parse_blob(read_blob_bytes(path, shown), shown)


def _requested_ranges(ctx: click.Context, base: int | None, size: int | None, from_file: str | None) -> RangeArray:
    from pmpoolctl.ranges.rangearray import RangeArray

    if (base is None) != (size is None):
        raise click.UsageError("give both BASE and SIZE")
    if base is None and from_file is None:
        raise click.UsageError("give BASE SIZE, or --from FILE")
    ranges = RangeArray()
    if from_file is not None:
        from pmpoolctl.output.console import progress
        from pmpoolctl.pool.batch import batch_lines, parse_batch

        name = display_name(from_file)
        text = decode_text(read_input(from_file), name)
        with progress(_console(ctx), f"reading {name}", batch_lines(text)) as advance:
            ranges = parse_batch(text, name, advance)  # two u64 arrays: it can be ten million
    if base is not None and size is not None:
        ranges = RangeArray(array("Q", [base]) + ranges.bases, array("Q", [size]) + ranges.sizes)
    return ranges


# ---------------------------------------------------------------------------
# create


@cli.command()
@click.argument("out", metavar="OUT", type=PATH)
@click.option(
    "--range", "ranges", type=(NUMBER, NUMBER), multiple=True, metavar="BASE SIZE", help="A range to put in the pool."
)
@click.option(
    "--page-size",
    type=NUMBER,
    default=DEFAULT_PAGE_SIZE,
    show_default=True,
    callback=_page_size,
    help="The pool's page size.",
)
@click.option("--from", "from_blob", metavar="BASE_BLOB", type=PATH, help="Copy this blob and add the pool node to it.")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@pool_option
@common_options
@click.pass_context
def create(
    ctx: click.Context,
    out: str,
    ranges: tuple[tuple[int, int], ...],
    page_size: int,
    from_blob: str | None,
    force: bool,
    pool_name: str,
) -> int:
    """Write a new blob OUT with an empty or --range-filled pool.

    \b
    Example:
      pmpoolctl create pool.dtb --range 0x100000000 2M --range 5G 1G
      pmpoolctl create host.dtb --from booted.dtb
    """
    from pmpoolctl.pool.edits import plan_add
    from pmpoolctl.pool.poolfile import with_new_pool
    from pmpoolctl.ranges.rangearray import RangeArray

    to_stdout = _blob_to_stdout(ctx, out)
    pool_ranges = plan_add(RangeArray(), [Range(b, s) for b, s in ranges], page_size, merge=False)
    if from_blob is not None:
        base = load_blob(from_blob)
    else:
        cells = (2).to_bytes(4, "big")
        base = parse_blob(build_minimal_blob([("#address-cells", cells), ("#size-cells", cells)]), "<new blob>")
    data = with_new_pool(base, pool_name, pool_ranges, page_size)
    parse_blob(data, display_name(out))  # what we write must read back
    if to_stdout:
        _write_blob_to_stdout(data)
        return EXIT_OK
    target = resolve_target(out)
    with locked(target):
        if os.path.lexists(out) and not force:
            raise InputError(f"{display_name(out)}: exists; use --force to overwrite it")
        _commit(ctx, target, data)
    _console(ctx).print(
        f"{display_name(out)}: created with pool /{pool_name}: {len(pool_ranges)} ranges, page size {page_size}"
    )
    return EXIT_OK


# ---------------------------------------------------------------------------
# dump


booted_option = click.option(
    "--booted",
    is_flag=True,
    help="Read what this kernel was booted with (sysfs; $PMPOOLCTL_SYSFS replaces /sys) instead of a file.",
)


def _booted_or_path(path: str | None, booted: bool, what: str) -> None:
    """Exactly one of PATH and --booted."""
    if booted and path is not None:
        raise click.UsageError(f"give {what} or --booted, not both")
    if not booted and path is None:
        raise click.UsageError(f"give {what}, or --booted for what this kernel was booted with")


@cli.command()
@click.argument("blob_path", metavar="[BLOB]", type=PATH, required=False)
@pool_option
@json_option("pmpoolctl.dump/v1")
@click.option("--dts", "as_dts", is_flag=True, help="Print the whole tree as DTS that dtc compiles back.")
@booted_option
@common_options
@click.pass_context
def dump(ctx: click.Context, blob_path: str | None, pool_name: str, as_json: bool, as_dts: bool, booted: bool) -> int:
    """Show BLOB's header, reservation block and pool (BLOB may be - for stdin).

    --booted reads the device tree this kernel was booted with instead:
    /sys/firmware/fdt, or on x86 the setup_data entry of type 2 (SETUP_DTB)
    in /sys/kernel/boot_params/setup_data.

    \b
    Example:
      pmpoolctl dump pool.dtb
      pmpoolctl dump pool.dtb --json | jq .pool.total_pages
      pmpoolctl dump pool.dtb --dts | dtc -I dts -O dtb -o copy.dtb
      pmpoolctl dump --booted
    """
    from pmpoolctl.pool.poolfile import read_pool

    if as_json and as_dts:
        raise click.UsageError("--json and --dts exclude each other")
    _booted_or_path(blob_path, booted, "BLOB")
    if blob_path is None:
        from pmpoolctl.kho.booted import booted_fdt

        data, where = booted_fdt()
        blob = parse_blob(data, display_name(where))
    else:
        blob = load_blob(blob_path)
    pool_explicit = ctx.get_parameter_source("pool_name") is not click.core.ParameterSource.DEFAULT
    pool = read_pool(blob, pool_name)
    if pool is None and pool_explicit:
        from pmpoolctl.pool.poolfile import missing_pool_message

        raise InputError(missing_pool_message(blob, pool_name))
    if as_dts:
        from pmpoolctl.dtb.dts import render_dts

        sys.stdout.writelines(render_dts(blob, frozenset({pool_name})))
        return EXIT_OK
    from pmpoolctl.output import dump as report
    from pmpoolctl.pool.poolfile import pool_names

    pools = [read_pool(blob, name) for name in pool_names(blob)]
    found = [p for p in pools if p is not None]
    if as_json:
        _print_json(report.dump_json(blob, pool, blob.source, found))
    else:
        report.render_dump(_console(ctx), blob, pool, blob.source, pool_name, found)
    return EXIT_OK


# ---------------------------------------------------------------------------
# add-range, remove-range


def _edit(
    ctx: click.Context,
    blob_path: str,
    requested_args: tuple[int | None, int | None, str | None],
    pool_name: str,
    out: str | None,
    dry_run: bool,
    plan: Callable[[RangeArray, RangeArray, int], RangeArray] | None,
    plan_pool: Callable[[Pool], tuple[RangeArray, RangeArray]] | None = None,
) -> int:
    """Shared body of the edit commands: lock, read, plan, write, report.

    `plan` makes the new ranges from the canonical ones and the requested ranges;
    `plan_pool` (canonicalize, which requests none) makes (the ranges as they were,
    the new ones) from the pool as it is stored.
    """
    from pmpoolctl.output.edit import render_change
    from pmpoolctl.pool.change import Change
    from pmpoolctl.pool.edits import editable_ranges
    from pmpoolctl.pool.poolfile import require_pool, with_ranges

    if blob_path == STDIN and out is None and not dry_run:
        raise click.UsageError("editing standard input needs -o OUT (-o - writes the result to standard output)")
    to_stdout = out is not None and not dry_run and _blob_to_stdout(ctx, out)
    if blob_path == STDIN and requested_args[2] == STDIN:
        raise click.UsageError("BLOB and --from cannot both be - (standard input)")
    requested = None if plan is None else _requested_ranges(ctx, *requested_args)
    # The file written is resolved once, and an edit in place reads exactly that file under its
    # lock (a symlink retargeted meanwhile cannot move the pool into another file). A blob that
    # is only read (-o names another file) is read before the lock is taken: no lock is held
    # while an input is still to be read.
    target = None if dry_run or to_stdout else resolve_target(out if out is not None else blob_path)
    in_place = target is not None and (out is None or _same_file(blob_path, target))
    blob = None if in_place else load_blob(blob_path)
    with contextlib.nullcontext() if target is None else locked(target):
        if blob is None:
            assert target is not None
            blob = load_blob(target, display_name(blob_path))
        pool = require_pool(blob, pool_name)
        try:
            if plan_pool is not None:
                before, after = plan_pool(pool)
            else:
                assert plan is not None and requested is not None
                before = editable_ranges(pool)
                after = plan(before, requested, pool.page_size)
        except EditError as exc:
            raise EditError(f"{blob.source}: {pool.path}: {exc}") from exc
        del requested  # a batch's arrays (160 MB at ten million ranges) are done with
        change = Change.of(before, after, listed=dry_run)
        # The old ranges are done with: let them go before the new blob is built (16 MB at 1M ranges).
        del before
        source, pool_path, page_size = blob.source, pool.path, pool.page_size
        if not dry_run and (not change.same or out is not None):
            data = with_ranges(blob, dataclasses.replace(pool, ranges=after), after)
            # Free the old blob and the arrays (32 MB at 1M ranges) before the write needs
            # as much page cache: reused pages are cheaper than new ones, and peak RSS is lower.
            del blob, pool, after
            parse_blob(data, display_name(out or blob_path))  # what we write must read back
            if target is None:  # -o -
                _write_blob_to_stdout(data)
                return EXIT_OK
            _commit(ctx, target, data)
    shown = source if out is None else display_name(out)
    render_change(_console(ctx), shown, pool_path, change, page_size, dry_run=dry_run)
    return EXIT_OK


def _same_file(path: str, target: str) -> bool:
    """Whether `path` names the file `target` (a hard link, another path): then it is read under the lock."""
    if path == STDIN:
        return False
    try:
        one, other = os.stat(path), os.stat(target)
    except OSError:
        return False
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def _blob_to_stdout(ctx: click.Context, out: str) -> bool:
    """Whether OUT is - (the blob goes to standard output); refuse a terminal or --quiet for it."""
    if out != STDIN:
        return False
    if _settings(ctx).quiet:
        raise click.UsageError("-o - writes the blob to standard output, which --quiet silences")
    if sys.stdout is None or sys.stdout.isatty():
        raise click.UsageError(
            "refusing to write a binary blob to a terminal: redirect standard output, or give a file"
        )
    return True


def _write_blob_to_stdout(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _commit(ctx: click.Context, target: str, data: bytes) -> None:
    """Write the edit: atomically, and from the rename on the run has succeeded (cli.md)."""
    settings = _settings(ctx)
    write_atomic(target, data, before_replace=settings.defer_signals)
    settings.committed = target


# The arguments and options both edit commands share.
_edit_command = _options(
    click.argument("blob_path", metavar="BLOB", type=PATH),
    click.argument("base", type=NUMBER, required=False),
    click.argument("size", type=NUMBER, required=False),
    click.option(
        "--from", "from_file", metavar="FILE", type=PATH, help="Ranges from FILE (- for stdin): text or JSON."
    ),
    pool_option,
    click.option("-o", "--output", "out", metavar="OUT", type=PATH, help="Write the result to OUT instead of BLOB."),
    click.option("-n", "--dry-run", is_flag=True, help="Show what would change; write nothing."),
    click.pass_context,
)


@cli.command("add-range")
@_edit_command
@click.option("--merge", is_flag=True, help="Merge ranges that overlap the pool instead of refusing them.")
@common_options
def add_range(
    ctx: click.Context,
    blob_path: str,
    base: int | None,
    size: int | None,
    from_file: str | None,
    pool_name: str,
    out: str | None,
    dry_run: bool,
    merge: bool,
) -> int:
    """Add pages to BLOB's pool: BASE SIZE, or a batch with --from FILE.

    The pool stays canonical: sorted, adjacent ranges merged. A range that
    overlaps the pool is refused unless --merge.

    \b
    Example:
      pmpoolctl add-range pool.dtb 0x180000000 1G
      printf '0x200000000 2M\\n0x300000000 4M\\n' | pmpoolctl add-range pool.dtb --from -
    """
    from pmpoolctl.pool.edits import plan_add

    return _edit(
        ctx,
        blob_path,
        (base, size, from_file),
        pool_name,
        out,
        dry_run,
        lambda current, requested, page_size: plan_add(current, requested, page_size, merge),
    )


@cli.command("remove-range")
@_edit_command
@click.option("--ignore-missing", is_flag=True, help="Skip pages that are not in the pool instead of refusing.")
@common_options
def remove_range(
    ctx: click.Context,
    blob_path: str,
    base: int | None,
    size: int | None,
    from_file: str | None,
    pool_name: str,
    out: str | None,
    dry_run: bool,
    ignore_missing: bool,
) -> int:
    """Remove pages from BLOB's pool: BASE SIZE, or a batch with --from FILE.

    Removing the middle of a range splits it. Pages that are not in the pool
    are refused unless --ignore-missing.

    \b
    Example:
      pmpoolctl remove-range pool.dtb 0x100100000 1M
    """
    from pmpoolctl.pool.edits import plan_remove

    return _edit(
        ctx,
        blob_path,
        (base, size, from_file),
        pool_name,
        out,
        dry_run,
        lambda current, requested, page_size: plan_remove(current, requested, page_size, ignore_missing),
    )


@cli.command("canonicalize")
@click.argument("blob_path", metavar="BLOB", type=PATH)
@pool_option
@click.option("-o", "--output", "out", metavar="OUT", type=PATH, help="Write the result to OUT instead of BLOB.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--merge", is_flag=True, help="Merge overlapping ranges instead of refusing the pool.")
@common_options
@click.pass_context
def canonicalize(
    ctx: click.Context, blob_path: str, pool_name: str, out: str | None, dry_run: bool, merge: bool
) -> int:
    """Rewrite BLOB's pool in canonical form: sorted, touching ranges merged.

    The pool keeps the pages it holds; empty ranges go. A pool with
    overlapping ranges (a page handed over twice) is refused unless --merge; one
    that breaks the binding otherwise (compatible, page-size, a range not
    page-aligned or past 2^64) is refused. Edits in place unless -o OUT; the
    edit is locked, read back and written atomically as every edit is.

    \b
    Example:
      pmpoolctl canonicalize pool.dtb --dry-run
      pmpoolctl canonicalize pool.dtb -o fixed.dtb --merge
    """
    from pmpoolctl.pool.edits import plan_canonical

    def plan_pool(pool: Pool) -> tuple[RangeArray, RangeArray]:
        after = plan_canonical(pool, merge)
        return _stored_in_order(pool.ranges), after

    return _edit(ctx, blob_path, (None, None, None), pool_name, out, dry_run, None, plan_pool)


def _stored_in_order(ranges: RangeArray) -> RangeArray:
    """A pool's ranges as stored, in order of base (for listing what canonicalize replaces)."""
    from pmpoolctl.ranges.rangearray import RangeArray

    order = sorted(range(len(ranges)), key=lambda i: (ranges.bases[i], ranges.sizes[i]))
    return RangeArray(array("Q", (ranges.bases[i] for i in order)), array("Q", (ranges.sizes[i] for i in order)))


# ---------------------------------------------------------------------------
# diff


@cli.command()
@click.argument("old_path", metavar="OLD", type=PATH)
@click.argument("new_path", metavar="NEW", type=PATH)
@pool_option
@json_option("pmpoolctl.diff/v1")
@common_options
@click.pass_context
def diff(ctx: click.Context, old_path: str, new_path: str, pool_name: str, as_json: bool) -> int:
    """Show how the pool changed from blob OLD to blob NEW.

    Pools are compared as the pages they hold (both sides canonicalised), so
    only pages that come or go show, with their totals, changed pool
    properties, and header and reservation-block changes; a pool that appears
    or disappears shows all its pages. Exit 0 when the pools are the same, 1
    when they differ; header and reservation changes are shown but do not make
    the pools differ. A pool that breaks the binding (an error: unsorted,
    overlapping, unaligned ranges, a bad compatible or page-size) is always a
    difference, with its problems listed; warnings (touching ranges) are
    listed but are not one. Exit 3 when neither blob has the pool. OLD or NEW
    may be - for stdin.

    \b
    Example:
      pmpoolctl diff /sys/firmware/fdt next.dtb
      pmpoolctl diff booted.dtb next.dtb --json | jq .added
      pmpoolctl diff -q booted.dtb next.dtb || echo "the pool changed"
    """
    from pmpoolctl.output import diff as report
    from pmpoolctl.pool.diff import diff_blobs, read_pools

    if old_path == STDIN and new_path == STDIN:
        raise click.UsageError("only one of OLD and NEW can be - (standard input)")
    old_blob, new_blob = load_blob(old_path), load_blob(new_path)
    old_pool, new_pool = read_pools(old_blob, new_blob, pool_name)
    result = diff_blobs(old_blob, old_pool, new_blob, new_pool)
    code = EXIT_OK if result.same else EXIT_FINDINGS
    _settings(ctx).verdict = code  # from here on, only the verdict decides
    if as_json:
        _print_json(report.diff_json(result, old_blob.source, new_blob.source, pool_name))
    else:
        report.render_diff(_console(ctx), result, old_blob.source, new_blob.source, pool_name)
    return code


# ---------------------------------------------------------------------------
# memmap, validate

memmap_format_option = click.option(
    "--memmap-format",
    type=click.Choice(["iomem", "firmware-memmap", "e820", "json", "dtb", "kexec"]),
    help="The format of every memory map given (detected when not given; FORMAT:SRC names one map's).",
)


@cli.command()
@click.argument("source", metavar="SRC", type=PATH)
@memmap_format_option
@json_option("pmpoolctl.memmap/v1")
@common_options
@click.pass_context
def memmap(ctx: click.Context, source: str, memmap_format: str | None, as_json: bool) -> int:
    """Print the memory map in SRC as validate reads it.

    SRC is /proc/iomem text, a /sys/firmware/memmap directory, a kernel log
    (dmesg, journalctl -k, syslog: the last boot's e820 table), JSON, a .dtb,
    or the segments a kexec load writes (the output of kexec -l/-s ... -d);
    - reads stdin. FORMAT:SRC names the format (e820:boot.log); a file whose
    name starts that way is ./e820:x.

    \b
    Example:
      pmpoolctl memmap /proc/iomem
      dmesg | pmpoolctl memmap - --json
      pmpoolctl memmap e820:/var/log/kern.log
    """
    from pmpoolctl.memmap.sources import load_memory_map
    from pmpoolctl.output import memmap as report

    memory_map = load_memory_map(source, memmap_format)
    if as_json:
        _print_json(report.memmap_json(memory_map))
    else:
        report.render_memmap(_console(ctx), memory_map)
    return EXIT_OK


def _phys_bits(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 64:
        raise click.BadParameter(f"{value} is not from 1 to 64")
    return value


# What validate and kho validate check against, and how they answer: the same flags for both.
map_options = _options(
    click.option(
        "--memmap",
        "memmaps",
        multiple=True,
        metavar="SRC",
        type=PATH,
        help="A memory map to check against (repeatable); FORMAT:SRC names its format (e820:boot.log).",
    ),
    memmap_format_option,
    click.option(
        "--live",
        is_flag=True,
        help="Check against this host: --memmap /proc/iomem --memmap /sys/firmware/memmap, and ranges must "
        "end within the CPU's physical address width (/proc/cpuinfo) unless --phys-bits says otherwise.",
    ),
)
verdict_options = _options(
    click.option("--phys-bits", type=int, callback=_phys_bits, metavar="N", help="Ranges must end at or below 2^N."),
    click.option("--strict", is_flag=True, help="Warnings fail the run too."),
    json_option("pmpoolctl.validate/v1"),
    click.option(
        "--junit",
        "junit_path",
        metavar="FILE",
        type=PATH,
        is_eager=True,  # known before any other option can fail, so a usage error replaces FILE too
        callback=lambda ctx, param, value: _remember_junit(ctx, value),
        help="Also write a JUnit XML report to FILE (an error report when the check cannot run).",
    ),
)


def _remember_junit(ctx: click.Context, path: str | None) -> str | None:
    if path is not None:
        _settings(ctx).junit = JUnitRequest(path, ctx.command_path)
    return path


def _begin_junit(ctx: click.Context, subject: str) -> None:
    """Before the check: FILE says the run did not finish, until the run's own report replaces it.

    So a run that is killed, or fails in any way, never leaves an older passing report behind.
    """
    request = _settings(ctx).junit
    if request is None:
        return
    from pmpoolctl.output.junit import junit_error_xml

    request.subject = subject
    message = f"{request.command} did not finish (it was killed, or is still running)"
    write_file(request.path, junit_error_xml(request.command, subject, message, None))


byte_order_option = click.option(
    "--byte-order",
    type=click.Choice(["little", "big"]),
    default="little",
    show_default=True,
    help="Byte order of KHO's u64 values: the CPU's that wrote them.",
)
next_kernel_option = click.option(
    "--next-kernel",
    "next_kernel",
    metavar="IMAGE",
    type=PATH,
    help="The kernel to kexec (vmlinux, Image, bzImage, Image.gz, vmlinuz): it must know the ABIs handed over.",
)


@cli.command("validate")
@click.argument("blob_path", metavar="BLOB", type=PATH)
@map_options
@pool_option
@click.option(
    "--all-pools",
    is_flag=True,
    help="Check every pmpool-v1 node of BLOB, and that no page belongs to two of them (pools-overlap).",
)
@click.option(
    "--kho",
    "kho_path",
    metavar="PATH",
    type=PATH,
    help="KHO state (a kho/out directory): ranges must stay clear of its scratch areas and what it preserves.",
)
@byte_order_option
@next_kernel_option
@verdict_options
@common_options
@click.pass_context
def validate_command(
    ctx: click.Context,
    blob_path: str,
    memmaps: tuple[str, ...],
    memmap_format: str | None,
    live: bool,
    pool_name: str,
    all_pools: bool,
    kho_path: str | None,
    byte_order: str,
    next_kernel: str | None,
    phys_bits: int | None,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
) -> int:
    """Check BLOB's pool against the binding and the machine's memory maps.

    Without --memmap the blob's own /memory nodes are the map. Every range must
    be RAM in every map and reserved in none, and clear of the kernel image,
    the crash kernel and the blob's reservations. A kexec segment list (the
    output of kexec -l/-s ... -d) says where the next kernel, its initrd and
    purgatory are written: every range must be clear of those segments
    (range-in-kexec-segment); it is no map of RAM, so with only such lists the
    blob's /memory nodes are the map of RAM. With --kho PATH (a copy of
    /sys/kernel/debug/kho/out) every range must also be clear of the KHO
    scratch areas, where the next kernel boots (range-in-kho-scratch), and of
    the reserve_mem regions and sub-blobs KHO preserves (range-in-kho-preserved).
    With --next-kernel IMAGE the kernel to kexec must know pmpool-v1
    (abi-unknown-to-next-kernel). --all-pools checks every pmpool-v1 node
    of BLOB the same way, and that no page belongs to two pools
    (pools-overlap). Exit 0 when there is no error (no warning
    either with --strict), 1 when there is.

    \b
    Example:
      pmpoolctl validate next.dtb --live --junit report.xml
      pmpoolctl validate next.dtb --memmap iomem.txt --memmap e820.log
      pmpoolctl validate next.dtb --live --kho kho-out --next-kernel /boot/vmlinuz-next
    """
    from pmpoolctl.memmap.blobmap import blob_memory_map, blob_reservations
    from pmpoolctl.memmap.sources import live_phys_bits
    from pmpoolctl.pool.binding import COMPATIBLE
    from pmpoolctl.pool.poolfile import require_pool

    if all_pools and ctx.get_parameter_source("pool_name") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--all-pools checks every pool: give it or --pool, not both")
    phys_bits = live_phys_bits(phys_bits, live)
    _begin_junit(ctx, display_name(blob_path))
    blob = load_blob(blob_path)
    pools = _all_pools(blob) if all_pools else [require_pool(blob, pool_name)]
    # Without a map of RAM given (none, or kexec segment lists only), the blob's own memory nodes
    # are one; its reservations are checked in any case.
    maps = _memory_maps(memmaps, memmap_format, live)
    if not any(m.lists_ram for m in maps):
        maps.append(blob_memory_map(blob, with_reservations=False))
    zones: list[Zone] = []
    if kho_path is not None:
        from pmpoolctl.kho.checks import preserved_zone, require_scratch, scratch_zone

        state = _checked_kho(kho_path, byte_order)
        require_scratch(state)
        zones = [scratch_zone(state), preserved_zone(state)]
    extra = []
    if next_kernel is not None:
        from pmpoolctl.kho.kernelimage import scan_image
        from pmpoolctl.kho.nextkernel import POOL_CONSEQUENCE, image_finding

        found = image_finding(scan_image(next_kernel, [COMPATIBLE]), [COMPATIBLE], consequence=POOL_CONSEQUENCE)
        extra = [] if found is None else [found]
    if all_pools:
        return _validate_all_and_report(
            ctx, pools, maps, blob_reservations(blob), blob.source, phys_bits, strict, as_json, junit_path, zones, extra
        )
    return _validate_and_report(
        ctx, pools[0], maps, blob_reservations(blob), blob.source, phys_bits, strict, as_json, junit_path, zones, extra
    )


def _all_pools(blob: Blob) -> list[Pool]:
    """Every pool of the blob (validate --all-pools); a blob without one is exit 3, as --pool's missing pool is."""
    from pmpoolctl.pool.poolfile import pool_names, require_pool

    names = pool_names(blob)
    if not names:
        raise InputError(f'{blob.source}: no pool node (no child of the root with compatible "pmpool-v1")')
    return [require_pool(blob, name) for name in names]


def _validate_all_and_report(
    ctx: click.Context,
    pools: list[Pool],
    maps: list[MemoryMap],
    reservations: Sequence[MapEntry],
    source: str,
    phys_bits: int | None,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
    zones: Sequence[Zone],
    extra: Sequence[Finding],
) -> int:
    """validate --all-pools: each pool checked as validate checks one, plus pools-overlap; one verdict for all."""
    from pmpoolctl.check.pools import pools_overlap
    from pmpoolctl.check.validate import validate
    from pmpoolctl.output import check as report
    from pmpoolctl.output.junit import junit_xml

    shared = pools_overlap(pools, source)
    # The next kernel's image is asked about pmpool-v1 once: its finding goes with the first pool.
    reports = [
        validate(pool, maps, reservations, phys_bits, None, zones, [*(extra if i == 0 else ()), *shared[pool.path]])
        for i, pool in enumerate(pools)
    ]
    oks = [r.errors == 0 and not (strict and r.warnings) for r in reports]
    ok = all(oks)
    _settings(ctx).verdict = EXIT_OK if ok else EXIT_FINDINGS  # from here on, only the verdict decides
    if junit_path is not None:
        write_file(junit_path, junit_xml(reports, source, strict))
    if as_json:
        _print_json(report.validate_all_json(reports, source, ok))
    else:
        report.render_validate_all(_console(ctx), reports, source, ok, oks)
    return EXIT_OK if ok else EXIT_FINDINGS


def _checked_kho(path: str, byte_order: str) -> KhoState:
    """KHO state that a check may rely on: a root version this pmpoolctl knows, every sub-blob the root names."""
    from pmpoolctl.kho import load_kho, require_complete, require_known

    state = load_kho(path, byte_order)
    require_known(state)
    require_complete(state)
    return state


def _memory_maps(sources: tuple[str, ...], memmap_format: str | None, live: bool) -> list[MemoryMap]:
    """The maps named by --memmap, and this host's with --live (/sys/firmware/memmap where it exists)."""
    from pmpoolctl.memmap.sources import LIVE_SOURCES, load_memory_map

    named = list(sources)
    if live:
        named += [s for s in LIVE_SOURCES if s == LIVE_SOURCES[0] or os.path.exists(s)]
    return [load_memory_map(source, memmap_format) for source in named]


def _validate_and_report(
    ctx: click.Context,
    pool: Pool,
    maps: list[MemoryMap],
    reservations: Sequence[MapEntry],
    source: str,
    phys_bits: int | None,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
    zones: Sequence[Zone] = (),
    extra: Sequence[Finding] = (),
    notes: Sequence[str] = (),
) -> int:
    """Shared by validate and kho validate: check, write the JUnit report, print, give the exit code.

    `notes` say what could not be checked (shown with the report, never as an `error:` line).
    """
    from pmpoolctl.check.validate import validate
    from pmpoolctl.output import check as report
    from pmpoolctl.output.console import progress
    from pmpoolctl.output.junit import junit_xml

    work = 0 if as_json else len(pool.ranges) * (len(maps) + 1)  # --json output never shows a bar
    console = _console(ctx)
    with progress(console, f"checking {len(pool.ranges)} ranges", work) as advance:
        result = validate(pool, maps, reservations, phys_bits, advance, zones, extra)
    ok = result.errors == 0 and not (strict and result.warnings)
    _settings(ctx).verdict = EXIT_OK if ok else EXIT_FINDINGS  # from here on, only the verdict decides
    if junit_path is not None:
        write_file(junit_path, junit_xml(result, source, strict))
    if as_json:
        _print_json(report.validate_json(result, source, ok, notes))
    else:
        report.render_validate(console, result, source, ok, notes)
    return EXIT_OK if ok else EXIT_FINDINGS


# ---------------------------------------------------------------------------
# kho


@cli.group("kho")
@common_options
def kho() -> None:
    """Inspect and check Linux Kexec HandOver (KHO) state (Linux 6.16+).

    KHO hands state to the next kernel in a root FDT whose u64 values are in
    the CPU's byte order (little-endian on x86 and arm64), which dtc and
    fdtget print wrongly, and sub-blobs, one per user (memblock, LUO, ...).
    PATH is a root FDT, or a directory laid out like /sys/kernel/debug/kho/out
    (fdt, sub_fdts/, scratch_phys, scratch_len; or kho/in).

    \b
    Root versions and what to do with each before kexec:
      kho-v1  6.16-7.0: users' sub-FDTs in 'fdt'. 6.16-6.18 write kho/out/fdt
              only after 'echo 1 > /sys/kernel/debug/kho/out/finalize'; 6.19
              and 7.0 show it from boot with preserved-memory-map 0 until
              finalize (LUO finalizes at reboot). Finalize, then copy kho/out.
      kho-v2  the mm tree in early 2026 only (short-lived): 'preserved-data',
              a radix-tree memory map from boot, no finalize.
      kho-v3  ~7.1, and kho-v4 ~7.2 (current): 'preserved-data' and
              'blob-size'; a sub-blob may be any format (kexec-metadata, a
              raw LUO). No finalize: copy kho/out when the state is complete.
      kho-v4;radix-v1;vmalloc-v1  the root version, then its component ABIs.
    Load the next kernel with kexec -s (kexec_file_load), the only way KHO is
    passed on.

    \b
    Example:
      pmpoolctl kho dump /sys/kernel/debug/kho/out
      pmpoolctl kho validate /sys/kernel/debug/kho/out --live
      pmpoolctl kho dump --booted
    """


@kho.command("dump")
@click.argument("path", metavar="[PATH]", type=PATH, required=False)
@byte_order_option
@json_option("pmpoolctl.kho/v1")
@booted_option
@common_options
@click.pass_context
def kho_dump(ctx: click.Context, path: str | None, byte_order: str, as_json: bool, booted: bool) -> int:
    """Show what the next kernel receives by KHO: the root, every user's sub-blob, the scratch areas.

    Every root version is decoded (kho-v1 to kho-v4, the compound form; an
    unknown one as far as the common layout goes, and said so). memblock's
    reserve_mem regions, LUO's FDT and kexec-metadata are decoded; other
    sub-blobs that are not FDTs are listed with their address and size.

    --booted shows the handover this kernel was booted with instead: on x86
    the setup_data entry of type 10 (SETUP_KEXEC_KHO), elsewhere
    /chosen/linux,kho-fdt in /sys/firmware/fdt, and the incoming state in
    /sys/kernel/debug/kho/in when debugfs shows it.

    \b
    Example:
      pmpoolctl kho dump /sys/kernel/debug/kho/out
      pmpoolctl kho dump kho-out/fdt --json | jq '.subtrees[].reserve_mem'
      pmpoolctl kho dump --booted --json
    """
    from pmpoolctl.kho import load_kho
    from pmpoolctl.output.kho import kho_json, render_kho

    _booted_or_path(path, booted, "PATH")
    handover = None
    if path is None:
        from pmpoolctl.kho.booted import booted_kho, sysfs_root

        handover, path = booted_kho()
        if handover is None and path is None:
            raise InputError(
                f"{display_name(sysfs_root())}: this kernel was not booted through KHO: no setup_data of type 10 "
                "(SETUP_KEXEC_KHO), no /chosen/linux,kho-fdt in firmware/fdt, no kho/in in kernel/debug"
            )
    state = None if path is None else load_kho(path, byte_order)
    if as_json:
        _print_json(kho_json(state, handover, booted))
    else:
        render_kho(_console(ctx), state, handover)
    return EXIT_OK


@kho.command("validate")
@click.argument("path", metavar="PATH", type=PATH)
@map_options
@byte_order_option
@click.option(
    "--page-size",
    type=NUMBER,
    default=DEFAULT_PAGE_SIZE,
    show_default=True,
    callback=_page_size,
    help="Regions must be aligned to it.",
)
@click.option(
    "--next-cmdline",
    "next_cmdline",
    metavar="TEXT|@FILE",
    help="The next kernel's command line (@FILE: read from FILE): it must request every reserve_mem region.",
)
@next_kernel_option
@verdict_options
@common_options
@click.pass_context
def kho_validate(
    ctx: click.Context,
    path: str,
    memmaps: tuple[str, ...],
    memmap_format: str | None,
    live: bool,
    byte_order: str,
    page_size: int,
    next_cmdline: str | None,
    next_kernel: str | None,
    phys_bits: int | None,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
) -> int:
    """Check the KHO state in PATH before kexec: its regions, its state, the next kernel.

    \b
    - memblock's reserve_mem regions are held to the pool's map rules (same
      rule ids: range-outside-ram, range-in-reserved, range-in-kernel, ...),
      must be page-aligned, must not overlap, and must lie outside the KHO
      scratch areas (range-in-kho-scratch), as must every sub-blob;
    - preserved-memory-map 0 means the next kernel drops all KHO state
      (kho-not-finalized);
    - --next-cmdline: each region must be requested as
      reserve_mem=SIZE:ALIGN:NAME with its size and an ALIGN its start has
      (reserve-mem-not-requested); no kho=on is a warning (kho-not-requested);
    - --next-kernel: the image must hold every compatible the state carries
      (abi-unknown-to-next-kernel).
    A root version this pmpoolctl does not know (kho-v1 to kho-v4 and their
    compound form are known), a sub-blob the root names that is not in PATH, or
    one whose size is not the root's blob-size, is exit 3: checking it would
    check nothing.

    \b
    Example:
      pmpoolctl kho validate /sys/kernel/debug/kho/out --live --junit kho.xml
      pmpoolctl kho validate kho-out --memmap iomem.txt --json
      pmpoolctl kho validate kho-out --live --next-cmdline @next-cmdline.txt --next-kernel /boot/vmlinuz-next
    """
    from pmpoolctl.kho.checks import as_pool, scratch_zone, state_findings
    from pmpoolctl.memmap.sources import live_phys_bits

    if not memmaps and not live:
        raise click.UsageError("give a memory map: --memmap SRC or --live (a KHO tree has no memory nodes)")
    source = display_name(path)
    _begin_junit(ctx, source)
    phys_bits = live_phys_bits(phys_bits, live)
    cmdline = None if next_cmdline is None else _next_cmdline(next_cmdline)
    state = _checked_kho(path, byte_order)
    maps = _memory_maps(memmaps, memmap_format, live)
    if not any(m.lists_ram for m in maps):
        raise click.UsageError("a kexec segment list is no map of RAM: give one too (--memmap SRC or --live)")
    extra = state_findings(state)
    image = None
    if next_kernel is not None:
        from pmpoolctl.kho.kernelimage import scan_image
        from pmpoolctl.kho.nextkernel import image_finding, needed_compatibles

        needed = needed_compatibles(state)
        image = scan_image(next_kernel, [*needed, *state.compatibles])
        found = image_finding(image, needed, state.compatibles[1:])
        extra += [] if found is None else [found]
    if cmdline is not None:
        from pmpoolctl.kho.nextkernel import cmdline_findings, kho_default

        extra += cmdline_findings(state, cmdline, kho_default(image))
    zones = [scratch_zone(state)]
    notes = []
    if state.scratch is None:
        notes.append(
            f"{source} has no scratch_phys/scratch_len (a root FDT, or kho/in): range-in-kho-scratch is not checked"
        )
    return _validate_and_report(
        ctx, as_pool(state, page_size), maps, [], source, phys_bits, strict, as_json, junit_path, zones, extra, notes
    )


MAX_CMDLINE_BYTES = 1 << 20  # the kernel's COMMAND_LINE_SIZE is 2-4 KiB on most architectures


def _next_cmdline(value: str) -> NextCmdline:
    """--next-cmdline TEXT, or @FILE (- for stdin) read as bytes."""
    from pmpoolctl.kho.cmdline import parse_next_cmdline

    if value.startswith("@"):
        file_name = value[1:]
        raw = read_input(file_name, MAX_CMDLINE_BYTES)
        source = display_name(file_name)
        if b"\0" in raw:
            raise InputError(f"{source}: holds a NUL byte (at byte offset {raw.index(0):#x}): not a command line")
    else:
        try:
            raw = os.fsencode(value)
        except UnicodeEncodeError as exc:  # text from a script that no file system name could hold
            raise click.BadParameter("not encodable text", param_hint="'--next-cmdline'") from exc
        source = "--next-cmdline"
        if b"\0" in raw:
            raise click.BadParameter("holds a NUL byte", param_hint="'--next-cmdline'")
    return parse_next_cmdline(raw, source)


def main() -> None:
    """The command, as the console script and `python -m pmpoolctl` run it (see `pmpoolctl.__main__`)."""
    from pmpoolctl.__main__ import main as entry

    entry()
