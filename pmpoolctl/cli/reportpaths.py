"""Where a run's reports go (--junit, --html, --svg, --metrics): claimed once, never over what the run reads.

Each report FILE is resolved once, when the run claims it (before its placeholder is written),
and every write of it (the placeholder, the report, an error report) replaces that same file.
A FILE is refused, as a usage error that writes nothing to it, when it is:

- `-`: standard output carries the run's own output (its text or --json); `./-` names a file `-`;
- the same file as one the run reads (BLOB, a --memmap, --kho, --next-kernel, --next-cmdline @FILE),
  or inside a directory the run reads (a report in a --kho directory's sub_fdts/ would be read);
- the file standard output or standard error goes to (`--junit /dev/stdout >> ci.log` would replace the log);
- an existing FDT blob (it starts with d00dfeed: `validate --live --junit next.dtb`, arguments
  swapped), or anything but a regular file (a directory, a device, a FIFO);
- the same file as another report of the run.

The run's other reports still record the usage error, as they record any failure.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator

import click

from pmpoolctl.cli.context import HtmlRequest, JUnitRequest, MetricsRequest, ReportRequest, Run, SvgRequest, run_of
from pmpoolctl.cli.options import metrics_pool_label
from pmpoolctl.errors import WriteError
from pmpoolctl.files import safewrite  # by the module: tests put a race between the resolution and the write
from pmpoolctl.files.inputs import STDIN, display_name, stat_of_input
from pmpoolctl.files.safewrite import Target
from pmpoolctl.files.sniff import is_fdt

REPORT_PARAMS = ("junit_path", "html_path", "svg_path", "metrics_path")
_DIRECTORY = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC
_Identity = tuple[int, int]  # (st_dev, st_ino)


def claim_reports(ctx: click.Context) -> None:
    """The first step of a command that writes reports: check and resolve them; a refused one is a usage error."""
    refusals = _claim(run_of(ctx), _inputs_of(ctx))
    if refusals:
        raise click.UsageError("; ".join(refusals))


def claim_after_usage_error(run: Run, group: click.Group, prog_name: str, argv: list[str]) -> list[str]:
    """After click refused the command line: claim the reports it names, so that they record the failure.

    Click stops at the first bad word (an unknown option, `--strict=1`, an option without its value),
    before or after the eager --junit/--html/--metrics callbacks ran depending on where the word was,
    so the command line is read again here, word by word with the command's own options, past any
    bad word. Every word that is not a report's FILE counts as a file the run would read (which of
    them click would have taken as BLOB cannot be known). The refusals are returned, to be said.
    A report whose path cannot be known is left as it is: nothing can replace it (no command was
    found, or `--junit` is the last word, without its FILE).
    """
    if run.claimed:
        return []
    scanned = _scan_command_line(group, prog_name, argv)
    if scanned is None:
        return []
    command_path, given, flags = scanned
    reports = {name: value for name, value in given if name in REPORT_PARAMS}  # the last one given wins, as in click
    run.junit = run.html = run.svg = run.metrics = None
    if "junit_path" in reports:
        run.junit = JUnitRequest(reports["junit_path"], command_path)
    if "html_path" in reports:
        run.html = HtmlRequest(reports["html_path"], command_path)
    if "svg_path" in reports:
        run.svg = SvgRequest(reports["svg_path"], command_path)
    if "metrics_path" in reports:
        run.metrics = MetricsRequest(reports["metrics_path"], metrics_pool_label(command_path))
    if "as_json" in flags:
        run.json = True
    if "quiet" in flags:
        run.quiet = True
    inputs = [(value, value) for name, value in given if name not in REPORT_PARAMS]
    return _claim(run, inputs)


def write_report(run: Run, request: ReportRequest, data: bytes) -> None:
    """Replace `request`'s FILE with `data`: the file resolved when it was claimed, and never an input or a blob."""
    target = request.target
    if target is None:  # its resolution failed when it was claimed: the failure is said now
        target = request.target = safewrite.resolve_target(request.path)

    def replaceable(target: Target, existing: os.stat_result) -> None:
        reason = _refusal_of_existing(target, existing, run.input_files)
        if reason is not None:  # it became one during the run: said as a write error
            raise WriteError(f"{display_name(request.path)}: refusing to replace it with a report: {reason}")

    with safewrite.locked(target):
        safewrite.write_atomic(target, data, check=replaceable)


def append_summary(run: Run, path: str, data: bytes) -> None:
    """Append to $GITHUB_STEP_SUMMARY, never to what the run reads or writes ($GITHUB_STEP_SUMMARY=next.dtb).

    An append to the blob, a map or a report would corrupt it (a markdown tail on a JUnit file, a line no
    iomem parser takes): refused as a write error, as the report rules refuse such a FILE.
    """
    found = stat_of_input(path)
    if found is not None:
        identity = (found.st_dev, found.st_ino)
        named = run.input_files.get(identity)
        reports = {_key_of(r.target)[0]: r for r in run.reports() if r.target is not None and r.target.lstat()}
        reason = None
        if named is not None:
            reason = f"it is the same file as {display_name(named)}, which this run reads"
        elif identity in reports:
            reason = f"it is the same file as {reports[identity].option} {display_name(reports[identity].path)}"
        if reason is not None:
            raise WriteError(f"$GITHUB_STEP_SUMMARY {display_name(path)}: refusing to append the summary: {reason}")
    safewrite.append_file(path, data)


# --- claiming ----------------------------------------------------------------------------------------------------


def _claim(run: Run, inputs: Iterable[tuple[str, str]]) -> list[str]:
    """Resolve each report's FILE and keep it on its request; drop (and say) each one that is refused."""
    run.claimed = True
    files, directories = _identities(inputs)
    run.input_files = files
    refusals: list[str] = []
    claimed: dict[tuple[_Identity, str], ReportRequest] = {}
    for request in run.reports():
        reason = _refusal(request, files, directories)
        key = None if request.target is None else _key_of(request.target)
        if reason is None and key is not None and key in claimed:
            other = claimed[key]
            reason = f"it is the same file as {other.option} {display_name(other.path)}"
        if reason is not None:
            shown = STDIN if request.path == STDIN else display_name(request.path)  # not display_name's <stdin>
            refusals.append(f"{request.option} {shown} is not written: {reason}")
            run.drop_report(request)
        elif key is not None:
            claimed[key] = request
    return refusals


def _refusal(request: ReportRequest, files: dict[_Identity, str], directories: dict[_Identity, str]) -> str | None:
    """Why `request`'s FILE must not be written, or None (its target resolved and kept on the request)."""
    if "\0" in request.path:  # click refused it already when it parsed; the re-read after that meets it too
        return "it holds a NUL byte, which no file name can"
    if request.path == STDIN:
        return "'-' would be standard output, which carries the run's own output; give a file name (./- for a file '-')"
    try:
        found = os.stat(request.path)  # a link followed: what resolving it would reach
    except OSError:
        found = None
    if found is not None and stat.S_ISDIR(found.st_mode):
        return "it is a directory"
    if found is not None and not stat.S_ISREG(found.st_mode):
        return "it is not a regular file (a device, a FIFO, a socket); reports replace only regular files"
    try:
        target = safewrite.resolve_target(request.path)
    except WriteError:
        return None  # not refused: it cannot be written, which its first write says (exit 3)
    existing = target.lstat()
    inside = _directory_read(target, directories)
    stream = None if existing is None else _standard_streams().get((existing.st_dev, existing.st_ino))
    if inside is not None:
        reason: str | None = f"it is inside {display_name(inside)}, a directory this run reads"
    elif stream is not None:
        reason = f"it is the file {stream} goes to (it would be replaced, and what the run writes there lost)"
    else:
        reason = None if existing is None else _refusal_of_existing(target, existing, files)
    if reason is not None:
        target.close()
        return reason
    request.target = target
    return None


def _refusal_of_existing(target: Target, existing: os.stat_result, files: dict[_Identity, str]) -> str | None:
    """Why the file at `target` must not be replaced by a report: it is an input, or a blob."""
    named = files.get((existing.st_dev, existing.st_ino))
    if named is not None:
        return f"it is the same file as {display_name(named)}, which this run reads"
    if not stat.S_ISREG(existing.st_mode):
        return None  # safewrite refuses it, whatever it is
    try:
        fd = os.open(target.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=target.directory)
    except OSError as exc:
        return f"it cannot be read to see that it is no blob ({exc.strerror})"
    try:
        head = os.read(fd, 4)
    except OSError as exc:
        return f"it cannot be read to see that it is no blob ({exc.strerror})"
    finally:
        os.close(fd)
    if is_fdt(head):
        return "it is an FDT blob (it starts with d00dfeed), not a report: were the arguments swapped?"
    return None


def _standard_streams() -> dict[_Identity, str]:
    """The regular files standard output and standard error go to (`--junit /dev/stdout >> ci.log`), by identity."""
    streams: dict[_Identity, str] = {}
    for fd, name in ((2, "standard error"), (1, "standard output")):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            streams[(st.st_dev, st.st_ino)] = name
    return streams


def _key_of(target: Target) -> tuple[_Identity, str]:
    """Which file `target` is: the file (a hard link is the same file), or its directory and name for a new one."""
    existing = target.lstat()
    if existing is not None:
        return (existing.st_dev, existing.st_ino), ""
    directory = os.fstat(target.directory)
    return (directory.st_dev, directory.st_ino), target.name


def _directory_read(target: Target, directories: dict[_Identity, str]) -> str | None:
    """The input directory that holds `target` (at any depth), as it was named; None when there is none."""
    if not directories:
        return None
    fd = os.open(".", _DIRECTORY, dir_fd=target.directory)
    try:
        while True:
            here = os.fstat(fd)
            named = directories.get((here.st_dev, here.st_ino))
            if named is not None:
                return named
            parent = os.open("..", _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = parent
            above = os.fstat(fd)
            if (above.st_dev, above.st_ino) == (here.st_dev, here.st_ino):  # the root is its own parent
                return None
    finally:
        os.close(fd)


# --- what the run reads ------------------------------------------------------------------------------------------


def _inputs_of(ctx: click.Context) -> list[tuple[str, str]]:
    """(how it was named, path) for every value of the command's parameters that may name a file it reads.

    Every text value but a report's FILE: a value that names no file (a pool's name) costs a stat.
    """
    inputs: list[tuple[str, str]] = []
    for param in ctx.command.params:
        if param.name is None or param.name in REPORT_PARAMS:
            continue
        value = ctx.params.get(param.name)
        for one in value if isinstance(value, tuple) else (value,):
            if isinstance(one, str):
                label = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
                inputs.append((f"{label} {one}", one))
    return inputs


def refuse_standard_input_twice(ctx: click.Context) -> None:
    """A usage error when two inputs are `-`: the first would read standard input to its end, the next nothing."""
    readers = [label for label, value in _inputs_of(ctx) if STDIN in _paths_in(value)]
    if len(readers) > 1:
        both = "both" if len(readers) == 2 else "all"
        raise click.UsageError(f"standard input can be read once: {' and '.join(readers)} are {both} -")


def _identities(inputs: Iterable[tuple[str, str]]) -> tuple[dict[_Identity, str], dict[_Identity, str]]:
    """The files and the directories `inputs` name, by (st_dev, st_ino), each with how it was named."""
    files: dict[_Identity, str] = {}
    directories: dict[_Identity, str] = {}
    for label, value in inputs:
        for path in _paths_in(value):
            st = stat_of_input(path)  # for -, the file standard input comes from: `validate - --junit x < x`
            if st is not None:
                (directories if stat.S_ISDIR(st.st_mode) else files).setdefault((st.st_dev, st.st_ino), label)
    return files, directories


def _paths_in(value: str) -> Iterator[str]:
    """The files a value may name: itself (- is standard input's), the SRC of FORMAT:SRC (--memmap), the FILE of
    @FILE (--next-cmdline)."""
    from pmpoolctl.memmap.sources import split_format

    if value == "":
        return
    yield value
    if value == STDIN:
        return
    path, named_format = split_format(value)
    if named_format is not None:
        yield path
    if value.startswith("@"):
        yield value[1:]


# --- the command line, read again --------------------------------------------------------------------------------


def _scan_command_line(
    group: click.Group, prog_name: str, argv: list[str]
) -> tuple[str, list[tuple[str, str]], set[str]] | None:
    """The command `argv` names, its path, the (parameter, value) pairs and the flags it gives; None if no command."""
    command: click.Command = group
    path = [prog_name]
    words = list(argv)
    given: list[tuple[str, str]] = []
    flags: set[str] = set()
    while True:
        rest = _scan_words(command, words, given, flags)
        if not isinstance(command, click.Group):
            return " ".join(path), given, flags
        if not rest:
            return None
        found = command.commands.get(rest[0])
        if found is None:
            return None
        path.append(rest[0])
        command, words = found, rest[1:]


def _scan_words(command: click.Command, words: list[str], given: list[tuple[str, str]], flags: set[str]) -> list[str]:
    """Read `words` with `command`'s options into `given` and `flags`; for a group, the words from its subcommand on.

    As click's parser reads them: an option that takes a value takes the next word whatever it is
    (--memmap --junit: --junit is the map), or the text after `=`; `--` ends the options. A word
    click would refuse (an unknown option, --strict=1) is skipped; other words are kept as arguments.
    """
    options: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            options.update(dict.fromkeys((*param.opts, *param.secondary_opts), param))
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":
            given.extend(("", rest) for rest in words[index:])
            break
        name, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        option = options.get(name)
        if option is None or option.name is None:
            if isinstance(command, click.Group) and not word.startswith("-"):
                return words[index - 1 :]
            given.append(("", word))
            continue
        if option.is_flag or option.count:
            flags.add(option.name)
            continue
        values = [value] if equals else words[index : index + option.nargs]
        index += 0 if equals else option.nargs
        if len(values) < max(option.nargs, 1) and not equals:
            break  # the option's value is missing (the last word): click said so
        given.extend((option.name, one) for one in values)
    return []
