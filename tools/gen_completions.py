#!/usr/bin/env python3
"""Write completions/ for bash, zsh and fish: click's completion scripts, for packagers (make completions).

python tools/gen_completions.py           # rewrite completions/
python tools/gen_completions.py --check   # exit 1 when a file there is not what click writes (tests/test_docs.py)

Each file is what `_PMPOOLCTL_COMPLETE=SHELL_source pmpoolctl` prints. It holds no command names: at
a tab it runs `pmpoolctl` with _PMPOOLCTL_COMPLETE set, so it stays right when commands change, and
it changes only with click's templates. Where a distribution puts them:

  completions/pmpoolctl.bash   /usr/share/bash-completion/completions/pmpoolctl
  completions/_pmpoolctl       /usr/share/zsh/vendor-completions/_pmpoolctl (Debian; elsewhere site-functions)
  completions/pmpoolctl.fish   /usr/share/fish/vendor_completions.d/pmpoolctl.fish
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from click.shell_completion import get_completion_class

from pmpoolctl.cli import cli

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
FILES = {"bash": "pmpoolctl.bash", "zsh": "_pmpoolctl", "fish": "pmpoolctl.fish"}


def scripts() -> dict[str, str]:
    """Every completion script, by file name."""
    found = {}
    for shell, name in FILES.items():
        completion = get_completion_class(shell)
        assert completion is not None, shell
        found[name] = completion(cli, {}, "pmpoolctl", "_PMPOOLCTL_COMPLETE").source()
    return found


def stale(expected: dict[str, str]) -> list[str]:
    return [
        name
        for name, text in expected.items()
        if not (COMPLETIONS / name).exists() or (COMPLETIONS / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when stale")
    args = parser.parse_args(argv)
    expected = scripts()
    if args.check:
        wrong = stale(expected)
        if wrong:
            print(f"{COMPLETIONS}: stale: {', '.join(wrong)}: run `make completions`", file=sys.stderr)
        return 1 if wrong else 0
    COMPLETIONS.mkdir(exist_ok=True)
    for name, text in expected.items():
        (COMPLETIONS / name).write_text(text)
    print(f"wrote {', '.join(expected)} in {COMPLETIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
