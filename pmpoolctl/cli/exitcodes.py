"""Exit codes: the verdict of a run, in one place (cli.md's table).

The exit code is the verdict. Nothing that happens to standard output changes a
refusal into success: a report that cannot be written never turns 1 into 0.
"""

from __future__ import annotations

import signal

OK = 0
FINDINGS = 1  # validate found an error (or a warning with --strict); diff found a difference
USAGE = 2
INPUT = 3  # unreadable or corrupt input, an edit that cannot be applied, a file that cannot be written
INTERNAL = 70  # a bug (EX_SOFTWARE)
INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports a Ctrl-C
BROKEN_PIPE = 128 + signal.SIGPIPE  # 141, as a shell reports a C tool killed by SIGPIPE

MEANINGS = {
    OK: "success; validate found no error, diff found no difference",
    FINDINGS: "validate found an error (or a warning with --strict); diff found the pools differ",
    USAGE: "usage error: unknown flag, bad number, missing argument",
    INPUT: "input error: unreadable or corrupt input, no pool node, an edit that cannot be applied, "
    "a file (or standard output) that cannot be written",
    INTERNAL: "internal error (a bug); --debug shows the traceback",
    INTERRUPTED: "interrupted (SIGINT) before the run finished; nothing was changed",
    BROKEN_PIPE: "standard output was closed (a closed pipe) before a passing run's output was written",
}
