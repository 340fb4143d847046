"""The pmpoolctl command line: parse arguments, call `pmpoolctl.api`, render, exit.

`app` holds the group and the one place that maps a run's end to an exit code
(`exitcodes`); `context` the run's state; `options` the shared options; one module per
command group: `inspect` (dump, memmap), `edit` (create, add-range, remove-range),
`check` (validate, diff), `kho`.
"""

from __future__ import annotations

from pmpoolctl.cli.app import cli, main

__all__ = ["cli", "main"]
