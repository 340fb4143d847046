#!/usr/bin/env python3
"""Write completions/ for bash, zsh and fish: click's completion scripts, for packagers (make completions).

python tools/gen_completions.py           # rewrite completions/
python tools/gen_completions.py --check   # exit 1 when a file there is not what click writes (tests/cli/test_docs.py)

Each file is what `_PMPOOLCTL_COMPLETE=SHELL_source pmpoolctl` prints. It holds no command names: at
a tab it runs `pmpoolctl` with _PMPOOLCTL_COMPLETE set, so it stays right when commands change, and
it changes only with click's templates. Where a distribution puts them:

  completions/pmpoolctl.bash   /usr/share/bash-completion/completions/pmpoolctl
  completions/_pmpoolctl       /usr/share/zsh/vendor-completions/_pmpoolctl (Debian; elsewhere site-functions)
  completions/pmpoolctl.fish   /usr/share/fish/vendor_completions.d/pmpoolctl.fish
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.shell_completion import get_completion_class
from generated import Output, main

from pmpoolctl.cli import cli

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
FILES = {"bash": "pmpoolctl.bash", "zsh": "_pmpoolctl", "fish": "pmpoolctl.fish"}


def scripts() -> dict[Path, str]:
    """Every completion script, by its file."""
    found = {}
    for shell, name in FILES.items():
        completion = get_completion_class(shell)
        assert completion is not None, shell
        found[COMPLETIONS / name] = completion(cli, {}, "pmpoolctl", "_PMPOOLCTL_COMPLETE").source()
    return found


OUTPUT = Output(scripts, "completions")

if __name__ == "__main__":
    sys.exit(main(OUTPUT, __doc__))
