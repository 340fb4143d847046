"""The `pmpoolctl` command: the console script and `python -m pmpoolctl`.

Importing the command line (click, and what the commands need) takes tens of
milliseconds. A Ctrl-C in that window ends the run as any other interrupt does:
`error: interrupted` and exit 130, never a Python traceback. The handler is
installed here, before the import, and not in the package: a script that imports
pmpoolctl keeps its own SIGINT handling.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(OSError):
        os.write(2, b"error: interrupted\n")
    os._exit(128 + signal.SIGINT)  # nothing has been opened or written yet: nothing to clean up


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from pmpoolctl.files.streams import prepare_standard_streams

    prepare_standard_streams()
    from pmpoolctl.cli import cli

    # From here on a Ctrl-C is a KeyboardInterrupt, which the command line turns into
    # exit 130 once temp files are removed and locks released.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli.main(prog_name="pmpoolctl")
    except KeyboardInterrupt:  # between the handler's change and the command line's own handling
        _interrupted_while_starting(signal.SIGINT, None)
    sys.exit(0)  # not reached: cli.main exits


if __name__ == "__main__":
    main()
