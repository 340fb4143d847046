"""`map`, `validate --html` and `--svg`: the address space drawn, golden, self-contained and escaped."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import cast

import pytest

from pmpoolctl import api
from pmpoolctl.output.console import Console as ConsoleProtocol
from pmpoolctl.output.mapview import GAP_COLUMNS, plot_width, render_map
from tests.conftest import EXAMPLES, assert_input_error, check_golden, run_cli

BAD = str(EXAMPLES / "bad-pool.dtb")
IOMEM = str(EXAMPLES / "memmap" / "iomem.txt")
KHO = str(EXAMPLES / "kho" / "out")


def relative(text: str) -> str:
    """Output with the examples' absolute paths as the README shows them."""
    return text.replace(str(EXAMPLES), "examples")


@pytest.fixture
def columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")


def test_map_golden(columns: None) -> None:
    run = run_cli(["map", BAD, "--memmap", IOMEM])
    assert run.exit_code == 0, run.stderr  # findings do not fail a map: validate is the gate
    check_golden("map-bad-pool.txt", relative(run.stdout))
    assert run.stdout.isascii() and run.stderr == ""
    assert all(len(line) <= 100 for line in run.stdout.splitlines()[2:9])


def test_map_honours_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    widths = {}
    for columns in (60, 160):
        monkeypatch.setenv("COLUMNS", str(columns))
        rows = run_cli(["map", BAD, "--memmap", IOMEM]).stdout.splitlines()
        (ram,) = [line for line in rows if line.startswith("RAM ")]
        widths[columns] = len(ram)
    assert widths == {60: 60, 160: 160}


def test_map_zooms_with_from_and_to(columns: None) -> None:
    run = run_cli(["map", BAD, "--memmap", IOMEM, "--from", "16M", "--to", "0x1200000"])
    assert run.exit_code == 0, run.stderr
    assert "[0x1000000, 0x1200000) in 77 columns" in run.stdout
    (pool,) = [line for line in run.stdout.splitlines() if line.startswith("pool ")]
    assert pool.endswith("|" + "#" * 77 + "|")  # the range over the kernel fills the view
    assert "findings: 2 outside it" in run.stdout


def test_map_of_maps_and_kho_state_without_a_blob(columns: None) -> None:
    run = run_cli(["map", "--memmap", IOMEM, "--kho", KHO])
    assert run.exit_code == 0, run.stderr
    labels = [line.split(" |")[0].strip() for line in run.stdout.splitlines() if " |" in line]
    assert labels == ["RAM", "reserved", "kernel image", "KHO preserved"]  # this copy has no scratch files
    assert "error" not in run.stdout


def test_map_without_memmap_draws_the_blobs_own_memory(columns: None) -> None:
    run = run_cli(["map", BAD])
    assert run.exit_code == 0, run.stderr
    first = relative(run.stdout).split("\n")[0]
    assert first.endswith("4 ranges checked against examples/bad-pool.dtb (dtb, 2 entries)"), first
    assert "RAM " in run.stdout and "blob reservations" in run.stdout


def test_map_on_a_terminal_is_rich() -> None:
    from rich.console import Console

    space = api.address_space(BAD, [IOMEM])
    stream = io.StringIO()
    rich_console = Console(file=stream, force_terminal=True, width=100, markup=False, highlight=False, soft_wrap=True)
    console = cast(ConsoleProtocol, rich_console)  # as make_console makes it for a terminal
    console.ascii = False
    drawn = space.picture(plot_width(100, [lane.label for lane in space.lanes]), GAP_COLUMNS)
    render_map(console, drawn, "heading", space.findings)
    text = stream.getvalue()
    assert "█" in text and "≈" in text and "\x1b[" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["map"], "nothing to draw"),
        (["map", BAD, "--from", "2M", "--to", "1M"], "--to 0x100000 is not above --from 0x200000"),
        (["map", BAD, "--from", "x"], "--from"),
    ],
)
def test_map_usage_errors(args: list[str], needle: str) -> None:
    run = run_cli(args)
    assert run.exit_code == 2 and needle in run.stderr, run.stderr


def test_map_of_a_missing_blob_is_exit_3(tmp_path: Path) -> None:
    page = tmp_path / "map.html"
    run = run_cli(["map", str(tmp_path / "none.dtb"), "--html", str(page)])
    assert_input_error(run, "none.dtb")
    assert "NO VERDICT" in page.read_text() and "none.dtb" in page.read_text()


# --- the page and the picture ----------------------------------------------------------------------------------------


def validate_pictures(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    page, picture = tmp_path / "report.html", tmp_path / "map.svg"
    run = run_cli(["validate", *args, "--html", str(page), "--svg", str(picture)])
    return run.exit_code, page.read_text(), picture.read_text()


def test_validate_svg_golden(tmp_path: Path) -> None:
    code, _, svg = validate_pictures(tmp_path, BAD, "--memmap", IOMEM)
    assert code == 1
    check_golden("validate-bad-pool.svg", relative(svg))
    ET.fromstring(svg)  # well-formed XML, as a file of its own must be


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside <title> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)


def parsed(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def test_the_html_report_is_self_contained_with_a_mark_per_finding(tmp_path: Path) -> None:
    code, page, _ = validate_pictures(tmp_path, BAD, "--memmap", IOMEM)
    assert code == 1
    assert not re.search(r"https?://", page), "no external resources"
    elements = parsed(page)
    tags = {tag for tag, _ in elements.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "image", "use"}
    assert not any(k in ("src", "href", "xlink:href") or k.startswith("on") for _, a in elements.tags for k in a)
    assert '<h1 class="verdict fail">FAIL: 3 errors, 0 warnings</h1>' in page
    marks = [a for tag, a in elements.tags if tag == "g" and (a.get("class") or "").startswith("finding ")]
    assert [a["data-rule"] for a in marks] == ["range-in-kernel", "range-in-memreserve", "range-outside-ram"]
    hover = [t for t in elements.titles if t.startswith("error ")]
    assert len(hover) == 3
    assert hover[0].startswith("error range-in-kernel [0x1000000, 0x1200000) at ")
    assert "iomem.txt:7" in hover[0] and "bad-pool.dtb:memreserve[0]" in hover[1] and "iomem.txt:11" in hover[2]
    assert page.count('<tr class="error">') == 3


def test_a_passing_report_says_ok(tmp_path: Path) -> None:
    code, page, _ = validate_pictures(tmp_path, str(EXAMPLES / "pool.dtb"), "--memmap", IOMEM)
    assert code == 0
    assert '<h1 class="verdict ok">OK: 0 errors, 0 warnings</h1>' in page and '<g class="finding ' not in page


HOSTILE = "<script>alert(1)</script>\"'&\x1b[31m\x07\u202e"


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    """A map's type words and its file name are whatever their writer put there: shown as text, never as markup."""
    source = tmp_path / "m<b>'\".txt"
    source.write_text(
        "00000000-0fffffff : System RAM\n"
        f"10000000-1fffffff : {HOSTILE}\n"
        "20000000-3fffffff : System RAM\n"
        f"  21000000-21ffffff : ACPI Tables\n"
    )
    blob = tmp_path / "pool.dtb"
    assert run_cli(["create", str(blob), "--range", "0x10000000", "4K", "--range", "0x21000000", "4K"]).exit_code == 0
    code, page, svg = validate_pictures(tmp_path, str(blob), "--memmap", str(source))
    assert code == 1
    for text in (page, svg):
        assert "<script" not in text and "<b>" not in text and "\x1b" not in text and "\x07" not in text
        assert "\u202e" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;\\x1b[31m\\x07\\u202e" in text
        assert "m&lt;b&gt;&#x27;&quot;.txt" in text
    ET.fromstring(svg)
    elements = parsed(page)
    assert sum(1 for tag, _ in elements.tags if tag == "script") == 0
    assert sum(1 for tag, a in elements.tags if tag == "g" and (a.get("class") or "").startswith("finding ")) == 2


def test_validate_html_replaces_an_old_page_when_the_run_fails(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("<h1>OK: 0 errors</h1>")
    run = run_cli(["validate", str(tmp_path / "missing.dtb"), "--html", str(page)])
    assert_input_error(run, "missing.dtb")
    text = page.read_text()
    assert "NO VERDICT" in text and "OK" not in text.replace("NO VERDICT", "")


def test_the_readme_shows_maps_real_output() -> None:
    """The README's `map` example is the golden output (lines it leaves out are marked `...`)."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    block = readme.split("$ COLUMNS=100 pmpoolctl map examples/bad-pool.dtb --memmap examples/memmap/iomem.txt\n")[1]
    shown = block.split("```")[0].splitlines()
    golden = (Path(__file__).parents[1] / "golden" / "map-bad-pool.txt").read_text().splitlines()
    at = 0
    for line in shown:
        if line == "...":
            continue
        at = golden.index(line, at) + 1  # each shown line is there, in order
    assert len(shown) > 15


def test_map_of_a_blob_without_the_pool_draws_its_map_and_reservations(columns: None) -> None:
    run = run_cli(["map", BAD, "--pool", "other_pool"])
    assert run.exit_code == 0, run.stderr
    labels = [line.split(" |")[0].strip() for line in run.stdout.splitlines() if " |" in line]
    assert labels == ["RAM", "blob reservations"] and "error" not in run.stdout
