"""`dump --dts` round-trips through dtc byte for byte, whatever the property values hold."""

from __future__ import annotations

import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmpoolctl.dtb.dts import render_dts
from pmpoolctl.dtb.reader import parse_blob
from pmpoolctl.dtb.writer import build_minimal_blob

# Strings as DTS would hold them: printable text with the characters DTS must escape
# (backslash, quote), C escapes (\n, \t), other control bytes and bytes above 0x7f.
string_bytes = st.lists(
    st.sampled_from(
        [b"\\", b'"', b"\n", b"\t", b"\r", b"\x07", b"\x1b", b"\x7f", b"\xe9", b"a", b"Z", b" ", b"'", b"?"]
    ),
    min_size=1,
    max_size=12,
).map(b"".join)
string_lists = st.lists(string_bytes, min_size=1, max_size=3).map(lambda parts: b"\0".join(parts) + b"\0")
values = st.one_of(
    string_lists,  # may print as strings
    st.binary(max_size=24),  # cells or bytes, whichever dtc's guess would be
    st.binary(min_size=4, max_size=16).map(lambda b: b[: len(b) - len(b) % 4]),  # whole cells
)


def round_trip(dtc: str, blob: bytes) -> bytes:
    """Our DTS of `blob`, compiled by dtc."""
    text = "".join(render_dts(parse_blob(blob, "blob")))
    proc = subprocess.run([dtc, "-I", "dts", "-O", "dtb", "-"], input=text.encode(), capture_output=True, check=False)
    assert proc.returncode == 0, (text, proc.stderr.decode())
    return proc.stdout


def root_properties(blob: bytes) -> list[tuple[str, bytes]]:
    tree = parse_blob(blob, "blob")
    return [(p.name, tree.value(p)) for p in tree.root.properties]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(values, min_size=1, max_size=4))
def test_any_value_survives_dts_and_dtc(dtc: str, props: list[bytes]) -> None:
    original = [(f"p{n}", value) for n, value in enumerate(props)]
    assert root_properties(round_trip(dtc, build_minimal_blob(original))) == original


def test_backslashes_and_quotes_are_escaped(dtc: str) -> None:
    value = b'C:\\path "quoted"\n\0second\0'
    blob = build_minimal_blob([("label", value)])
    text = "".join(render_dts(parse_blob(blob, "blob")))
    assert 'label = "C:\\\\path \\"quoted\\"\\n", "second";' in text
    assert root_properties(round_trip(dtc, blob)) == [("label", value)]
