#!/usr/bin/env python3
"""Render docs/map.png, the README's picture: pmpoolctl's own SVG, screenshotted by headless Chromium (make picture).

python tools/render_picture.py [OUT.png]

The picture is `pmpoolctl map examples/bad-pool.dtb --memmap examples/memmap/iomem.txt --svg`:
the address space of the README's refused pool, every finding marked. Chromium (Debian's
`chromium`) renders the SVG at its own size into OUT (default docs/map.png). The PNG is
committed; tests/system/test_browser.py renders it again and holds the committed one to its size.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOB = "examples/bad-pool.dtb"
MEMMAP = "examples/memmap/iomem.txt"
DEFAULT_OUT = REPO / "docs" / "map.png"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def render(out: Path) -> tuple[int, int]:
    """Draw the SVG with this checkout's pmpoolctl, screenshot it into `out`; its (width, height)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("render_picture: chromium not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        svg = Path(tmp) / "map.svg"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        subprocess.run(
            [sys.executable, "-m", "pmpoolctl", "-q", "map", BLOB, "--memmap", MEMMAP, "--svg", str(svg)],
            cwd=REPO,
            env=env,
            check=True,
        )
        match = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', svg.read_text())
        if match is None:
            raise SystemExit("render_picture: the SVG has no width and height")
        width, height = int(match[1]), int(match[2])
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={Path(tmp) / 'profile'}",
                f"--screenshot={out.resolve()}",
                f"--window-size={width},{height}",
                svg.as_uri(),
            ],
            env={**os.environ, "HOME": tmp},
            capture_output=True,
            check=True,
            timeout=180,
        )
    return width, height


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    width, height = render(out)
    print(f"{out}: {width}x{height}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
