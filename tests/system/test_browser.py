"""The HTML report and the SVG in a real browser: Debian's Chromium, headless (.ci/run installs it).

The page must render with no console message at all (a script error, or a resource its
Content-Security-Policy blocks, is one), hold one mark per finding in the DOM after load,
and make a screenshot that is a picture, not a blank page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, load_script, required, run_cli
from tests.helpers.png import read_png

REPO = Path(__file__).resolve().parents[2]
BAD = str(EXAMPLES / "bad-pool.dtb")
IOMEM = str(EXAMPLES / "memmap" / "iomem.txt")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
MARK_RED = (0xD0, 0x00, 0x00)  # svg._SEVERITY of an error


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return required(found, "chromium", "apt-get install chromium")


def browse(chromium: str, tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium on `page` with a profile of its own under tmp_path; no console message may appear."""
    profile = tmp_path / "profile"
    env = {**os.environ, "HOME": str(tmp_path)}  # its caches and crash reports stay in tmp_path
    proc = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    return proc


def report(tmp_path: Path, *args: str) -> Path:
    page = tmp_path / "report.html"
    run = run_cli(["validate", *args, "--html", str(page)])
    assert run.exit_code in (0, 1), run.stderr
    return page


def test_the_report_renders_with_one_mark_per_finding(chromium: str, tmp_path: Path) -> None:
    page = report(tmp_path, BAD, "--memmap", IOMEM)
    dom = browse(chromium, tmp_path, page, "--dump-dom").stdout
    assert '<svg class="addrspace"' in dom and "FAIL: 3 errors, 0 warnings" in dom
    marks = re.findall(r'<g class="finding (error|warning)" data-rule="([a-z-]+)">', dom)
    assert marks == [("error", "range-in-kernel"), ("error", "range-in-memreserve"), ("error", "range-outside-ram")]
    assert dom.count('<tr class="error">') == 3


def test_the_report_screenshot_is_a_picture(chromium: str, tmp_path: Path) -> None:
    page = report(tmp_path, BAD, "--memmap", IOMEM)
    shot = tmp_path / "report.png"
    browse(chromium, tmp_path, page, f"--screenshot={shot}", "--window-size=1250,600")
    image = read_png(shot.read_bytes())
    assert (image.width, image.height) == (1250, 600)
    colours = {c[:3] for c in image.colours()}
    assert len(colours) > 20, "a blank page"
    assert MARK_RED in colours, "no finding mark drawn"


def test_the_svg_alone_renders(chromium: str, tmp_path: Path) -> None:
    picture = tmp_path / "map.svg"
    assert run_cli(["map", BAD, "--memmap", IOMEM, "--svg", str(picture)]).exit_code == 0
    shot = tmp_path / "map.png"
    browse(chromium, tmp_path, picture, f"--screenshot={shot}", "--window-size=1164,170")
    colours = {c[:3] for c in read_png(shot.read_bytes()).colours()}
    assert len(colours) > 20 and MARK_RED in colours


def test_a_hostile_map_stays_text_in_the_browser(chromium: str, tmp_path: Path) -> None:
    source = tmp_path / "m.txt"
    source.write_text(
        "00000000-0fffffff : System RAM\n10000000-1fffffff : <script>alert(1)</script><img src=x onerror=alert(2)>\n"
    )
    blob = tmp_path / "pool.dtb"
    assert run_cli(["create", str(blob), "--range", "0x10000000", "4K"]).exit_code == 0
    page = report(tmp_path, str(blob), "--memmap", str(source))
    dom = browse(chromium, tmp_path, page, "--dump-dom").stdout
    assert "<script" not in dom and "<img" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in dom


def test_the_readme_picture_is_what_the_tool_renders(chromium: str, tmp_path: Path) -> None:
    """docs/map.png is tools/render_picture.py's: the same size as a fresh render (pixels vary with Chromium's
    version, so they are not compared), a picture with the marks in it, and the README shows it."""
    tool = load_script(REPO / "tools" / "render_picture.py")
    fresh = tmp_path / "map.png"
    assert tool.render(fresh) == (read_png(fresh.read_bytes()).width, read_png(fresh.read_bytes()).height)
    committed = read_png((REPO / "docs" / "map.png").read_bytes())
    again = read_png(fresh.read_bytes())
    assert (committed.width, committed.height) == (again.width, again.height)
    assert MARK_RED in {c[:3] for c in committed.colours()}
    assert "![" in (REPO / "README.md").read_text() and "(docs/map.png)" in (REPO / "README.md").read_text()
