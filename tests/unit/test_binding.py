"""The pmpool-v1 binding: u64 pair encoding, decode_pool, canonical_findings, pool_properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.dtb.writer import Pieces
from pmpoolctl.numbers import U64_LIMIT, U64_MAX
from pmpoolctl.pool.binding import (
    ORDER_FINDINGS_SHOWN,
    canonical_findings,
    decode_pool,
    decode_u64_pairs,
    encode_u64_pairs,
    pool_properties,
)
from pmpoolctl.ranges.rangeset import Range, RangeSet

PROPERTY = settings(max_examples=200, deadline=None)

ERROR = Severity.ERROR
WARNING = Severity.WARNING
COMPATIBLE = ("compatible", b"pmpool-v1\0")

u64 = st.integers(0, U64_MAX)
u64_ranges = st.builds(Range, u64, u64)


def ranges_prop(ranges: list[Range]) -> tuple[str, bytes]:
    return ("page-ranges", encode_u64_pairs(ranges))


def page_size_prop(value: int) -> tuple[str, bytes]:
    return ("page-size", value.to_bytes(4, "big"))


def summary(findings: list[Finding]) -> list[tuple[str, Severity, Range | None]]:
    return [(f.rule, f.severity, f.range) for f in findings]


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


# --- u64 pairs ------------------------------------------------------------------------------------------------------


@PROPERTY
@given(st.lists(u64_ranges, max_size=20))
def test_u64_pairs_round_trip(ranges: list[Range]) -> None:
    data = encode_u64_pairs(ranges)
    assert len(data) == 16 * len(ranges)
    assert list(decode_u64_pairs(data)) == ranges


@PROPERTY
@given(st.lists(u64_ranges, max_size=8))
def test_u64_pairs_are_big_endian(ranges: list[Range]) -> None:
    expected = b"".join(r.base.to_bytes(8, "big") + r.size.to_bytes(8, "big") for r in ranges)
    assert encode_u64_pairs(ranges) == expected


@PROPERTY
@given(st.lists(u64_ranges, max_size=8), st.binary(max_size=15))
def test_decode_ignores_a_trailing_partial_pair(ranges: list[Range], tail: bytes) -> None:
    assert list(decode_u64_pairs(encode_u64_pairs(ranges) + tail)) == ranges


def test_u64_pairs_examples() -> None:
    assert encode_u64_pairs([]) == b""
    assert list(decode_u64_pairs(b"")) == []
    top = Range(1 << 63, U64_MAX)
    data = encode_u64_pairs([Range(0x100000000, 0x200000), top])
    assert data == bytes.fromhex("000000010000000000000000002000008000000000000000ffffffffffffffff")
    assert list(decode_u64_pairs(data)) == [Range(0x100000000, 0x200000), top]
    assert list(decode_u64_pairs(bytes(15))) == []


# --- decode_pool: good pools ----------------------------------------------------------------------------------------


def test_decode_pool_without_page_size_defaults_to_4096() -> None:
    ranges = [Range(0x100000000, 0x200000), Range(0x140000000, 0x40000000)]
    pool = decode_pool("default_pmpool", [COMPATIBLE, ranges_prop(ranges)])
    assert pool.problems == []
    assert pool.page_size == 4096
    assert pool.compatible == "pmpool-v1"
    assert list(pool.ranges) == ranges
    assert pool.path == "/default_pmpool"
    assert pool.total_bytes == 0x200000 + 0x40000000
    assert pool.total_pages == (0x200000 + 0x40000000) // 4096
    assert pool.extra_properties() == []


@pytest.mark.parametrize("page_size", [4096, 8192, 0x10000, 0x200000, 1 << 31])
def test_decode_pool_with_page_size(page_size: int) -> None:
    ranges = [Range(page_size, page_size), Range(page_size * 4, page_size * 2)]
    pool = decode_pool("iommu_pmpool", [COMPATIBLE, page_size_prop(page_size), ranges_prop(ranges)])
    assert pool.problems == []
    assert pool.page_size == page_size
    assert pool.total_pages == 3
    assert pool.path == "/iommu_pmpool"


def test_decode_pool_with_empty_page_ranges() -> None:
    pool = decode_pool("default_pmpool", [COMPATIBLE, ("page-ranges", b"")])
    assert pool.problems == []
    assert list(pool.ranges) == []
    assert pool.total_bytes == 0


def test_extra_properties_are_kept_in_order() -> None:
    properties = [
        ("label", b"hv\0"),
        COMPATIBLE,
        ("status", b"okay\0"),
        page_size_prop(4096),
        ranges_prop([Range(0x1000, 0x1000)]),
        ("linux,phandle", b"\0\0\0\x01"),
    ]
    pool = decode_pool("default_pmpool", properties)
    assert pool.problems == []
    assert pool.properties == properties
    assert pool.extra_properties() == [("label", b"hv\0"), ("status", b"okay\0"), ("linux,phandle", b"\0\0\0\x01")]

    new_ranges = [Range(0x1000, 0x3000), Range(0x10000, 0x1000)]
    written = pool_properties(pool, new_ranges, pool.page_size)
    assert written == [*properties[:4], ranges_prop(new_ranges), properties[5]]
    assert list(decode_pool("default_pmpool", [(n, bytes(v)) for n, v in written]).ranges) == new_ranges

    # An edit of the decoded ranges is written as pieces: the old bytes kept, the new pair encoded.
    edited = pool.ranges.union(RangeSet([Range(0x20000, 0x1000)]))
    written = pool_properties(pool, edited, pool.page_size)
    value = dict(written)["page-ranges"]
    assert isinstance(value, Pieces) and len(value.parts) == 2
    assert bytes(value) == encode_u64_pairs([Range(0x1000, 0x1000), Range(0x20000, 0x1000)])


def test_pool_properties_for_a_new_pool() -> None:
    ranges = [Range(0x200000, 0x200000)]
    written = pool_properties(None, ranges, 0x200000)
    assert written == [
        ("compatible", b"pmpool-v1\0"),
        ("page-size", b"\x00\x20\x00\x00"),
        ("page-ranges", encode_u64_pairs(ranges)),
    ]
    pool = decode_pool("default_pmpool", [(n, bytes(v)) for n, v in written])
    assert pool.problems == []
    assert pool.page_size == 0x200000
    assert list(pool.ranges) == ranges


# --- decode_pool: binding-invalid -----------------------------------------------------------------------------------

GOOD_RANGES = ranges_prop([Range(0x1000, 0x1000)])


@pytest.mark.parametrize(
    ("properties", "needle"),
    [
        pytest.param([GOOD_RANGES], "compatible", id="missing-compatible"),
        pytest.param([("compatible", b"pmpool-v2\0"), GOOD_RANGES], "pmpool-v2", id="wrong-compatible"),
        pytest.param([("compatible", b"pmpool-v1"), GOOD_RANGES], "compatible", id="compatible-not-nul-terminated"),
        pytest.param([("compatible", b"pmpool-v1\0extra\0"), GOOD_RANGES], "compatible", id="compatible-list"),
        pytest.param([("compatible", b"\0"), GOOD_RANGES], "compatible", id="compatible-empty-string"),
        pytest.param([("compatible", b""), GOOD_RANGES], "compatible", id="compatible-no-bytes"),
        pytest.param([("compatible", b"pmpool-\xff1\0"), GOOD_RANGES], "compatible", id="compatible-not-ascii"),
        pytest.param([("compatible", b"PMPOOL-V1\0"), GOOD_RANGES], "PMPOOL-V1", id="compatible-case"),
        pytest.param([COMPATIBLE, ("page-size", b"\0\x10\0"), GOOD_RANGES], "3 bytes", id="page-size-3-bytes"),
        pytest.param(
            [COMPATIBLE, ("page-size", (4096).to_bytes(8, "big")), GOOD_RANGES], "8 bytes", id="page-size-8-bytes"
        ),
        pytest.param([COMPATIBLE, ("page-size", b""), GOOD_RANGES], "page-size", id="page-size-empty"),
        pytest.param([COMPATIBLE, page_size_prop(2048), GOOD_RANGES], "2048", id="page-size-2048"),
        pytest.param([COMPATIBLE, page_size_prop(12288), GOOD_RANGES], "12288", id="page-size-12288"),
        pytest.param([COMPATIBLE, page_size_prop(0), GOOD_RANGES], "page-size 0", id="page-size-0"),
        pytest.param([COMPATIBLE, page_size_prop(4097), GOOD_RANGES], "4097", id="page-size-4097"),
        pytest.param([COMPATIBLE], "page-ranges", id="missing-page-ranges"),
        pytest.param([COMPATIBLE, page_size_prop(4096)], "page-ranges", id="missing-page-ranges-with-page-size"),
        pytest.param(
            [COMPATIBLE, ("page-ranges", encode_u64_pairs([Range(0x1000, 0x1000)]) + bytes(8))],
            "24 bytes",
            id="page-ranges-24-bytes",
        ),
        pytest.param([COMPATIBLE, ("page-ranges", bytes(8))], "8 bytes", id="page-ranges-8-bytes"),
    ],
)
def test_binding_invalid(properties: list[tuple[str, bytes]], needle: str) -> None:
    pool = decode_pool("default_pmpool", properties)
    assert rules(pool.problems) == ["binding-invalid"]
    (problem,) = pool.problems
    assert problem.severity is ERROR
    assert needle in problem.message
    assert "/default_pmpool" in problem.message


def test_a_pool_with_a_bad_page_size_still_decodes_its_ranges() -> None:
    pool = decode_pool("default_pmpool", [COMPATIBLE, page_size_prop(12288), GOOD_RANGES])
    assert pool.page_size == 4096
    assert list(pool.ranges) == [Range(0x1000, 0x1000)]


def test_a_truncated_page_ranges_keeps_its_whole_pairs() -> None:
    raw = encode_u64_pairs([Range(0x1000, 0x1000)]) + bytes(8)
    pool = decode_pool("default_pmpool", [COMPATIBLE, ("page-ranges", raw)])
    assert list(pool.ranges) == [Range(0x1000, 0x1000)]


def test_wrong_compatible_is_shown_as_found() -> None:
    pool = decode_pool("default_pmpool", [("compatible", b"pmpool-v2\0"), GOOD_RANGES])
    assert pool.compatible == "pmpool-v2"


def test_several_binding_problems_are_all_reported() -> None:
    pool = decode_pool("p", [page_size_prop(2048)])
    assert rules(pool.problems) == ["binding-invalid"] * 3
    assert pool.compatible is None
    assert list(pool.ranges) == []


def test_decode_pool_reports_canonical_findings_too() -> None:
    ranges = [Range(0x3000, 0x1000), Range(0x1000, 0x1000), Range(0x5000, 0)]
    pool = decode_pool("default_pmpool", [("compatible", b"other\0"), ranges_prop(ranges)])
    assert rules(pool.problems) == ["binding-invalid", "range-empty", "ranges-unsorted"]


def test_canonical_findings_use_the_decoded_page_size() -> None:
    ranges = [Range(0x10000, 0x1000)]
    pool = decode_pool("default_pmpool", [COMPATIBLE, page_size_prop(0x10000), ranges_prop(ranges)])
    assert summary(pool.problems) == [("range-unaligned", ERROR, Range(0x10000, 0x1000))]


# --- canonical_findings ---------------------------------------------------------------------------------------------

TOP = U64_LIMIT


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        pytest.param([], [], id="empty-list"),
        pytest.param([Range(0x1000, 0x1000), Range(0x3000, 0x2000)], [], id="canonical"),
        pytest.param([Range(TOP - 0x1000, 0x1000)], [], id="ends-at-2^64"),
        pytest.param([Range(0x1000, 0)], [("range-empty", ERROR, Range(0x1000, 0))], id="empty"),
        pytest.param([Range(0x1800, 0x1000)], [("range-unaligned", ERROR, Range(0x1800, 0x1000))], id="base-unaligned"),
        pytest.param([Range(0x1000, 0x800)], [("range-unaligned", ERROR, Range(0x1000, 0x800))], id="size-unaligned"),
        pytest.param(
            [Range(TOP - 0x1000, 0x2000)], [("range-overflow", ERROR, Range(TOP - 0x1000, 0x2000))], id="overflow"
        ),
        pytest.param(
            [Range(0x3000, 0x1000), Range(0x1000, 0x1000)],
            [("ranges-unsorted", ERROR, Range(0x1000, 0x1000))],
            id="unsorted",
        ),
        pytest.param(
            [Range(0x1000, 0x2000), Range(0x2000, 0x1000)],
            [("range-overlap", ERROR, Range(0x2000, 0x1000))],
            id="overlap",
        ),
        pytest.param(
            [Range(0x1000, 0x1000), Range(0x1000, 0x2000)],
            [("range-overlap", ERROR, Range(0x1000, 0x2000))],
            id="same-base-overlap-not-unsorted",
        ),
        pytest.param(
            [Range(0x1000, 0x1000), Range(0x2000, 0x1000)],
            [("ranges-not-coalesced", WARNING, Range(0x2000, 0x1000))],
            id="touching",
        ),
        pytest.param(
            [Range(0x2000, 0x1000), Range(0x1000, 0x1000)],
            [
                ("ranges-unsorted", ERROR, Range(0x1000, 0x1000)),
                ("ranges-not-coalesced", WARNING, Range(0x2000, 0x1000)),
            ],
            id="unsorted-and-touching",
        ),
        pytest.param(
            [Range(0x3000, 0x2000), Range(0x1000, 0x3000)],
            [("ranges-unsorted", ERROR, Range(0x1000, 0x3000)), ("range-overlap", ERROR, Range(0x3000, 0x2000))],
            id="unsorted-and-overlapping",
        ),
        pytest.param(
            [Range(0, 0x10000), Range(0x1000, 0x1000), Range(0x3000, 0x1000)],
            [("range-overlap", ERROR, Range(0x1000, 0x1000)), ("range-overlap", ERROR, Range(0x3000, 0x1000))],
            id="two-inside-one",
        ),
        pytest.param(
            [Range(0, 0x4000), Range(0x1000, 0x1000), Range(0x4000, 0x1000)],
            [("range-overlap", ERROR, Range(0x1000, 0x1000)), ("ranges-not-coalesced", WARNING, Range(0x4000, 0x1000))],
            id="touching-the-furthest-end-past-a-contained-range",
        ),
        pytest.param(
            [Range(0, 0x4000), Range(0x1000, 0x1000), Range(0x2000, 0x1000)],
            [("range-overlap", ERROR, Range(0x1000, 0x1000)), ("range-overlap", ERROR, Range(0x2000, 0x1000))],
            id="touching-a-contained-range-still-overlaps-the-container",
        ),
        pytest.param(
            [Range(0x1000, 0x2000), Range(0x2000, 0)],
            [("range-empty", ERROR, Range(0x2000, 0))],
            id="empty-range-inside-is-not-an-overlap",
        ),
        pytest.param(
            [Range(0x1000, 0x1000), Range(0x2000, 0), Range(0x2000, 0x1000)],
            [("range-empty", ERROR, Range(0x2000, 0)), ("ranges-not-coalesced", WARNING, Range(0x2000, 0x1000))],
            id="empty-range-between-touching-ranges",
        ),
    ],
)
def test_canonical_findings(ranges: list[Range], expected: list[tuple[str, Severity, Range]]) -> None:
    assert summary(canonical_findings(ranges, 4096)) == expected


def test_empty_and_unaligned_range_gets_both() -> None:
    findings = canonical_findings([Range(0x800, 0)], 4096)
    assert sorted(summary(findings)) == [
        ("range-empty", ERROR, Range(0x800, 0)),
        ("range-unaligned", ERROR, Range(0x800, 0)),
    ]


def test_unaligned_and_overflowing_range_gets_both() -> None:
    r = Range(TOP - 0x800, 0x1000)
    assert sorted(summary(canonical_findings([r], 4096))) == [
        ("range-overflow", ERROR, r),
        ("range-unaligned", ERROR, r),
    ]


def test_alignment_is_to_the_given_page_size() -> None:
    ranges = [Range(0x200000, 0x1000)]
    assert canonical_findings(ranges, 4096) == []
    assert rules(canonical_findings(ranges, 0x10000)) == ["range-unaligned"]
    assert rules(canonical_findings([Range(0x1000, 0x200000)], 0x200000)) == ["range-unaligned"]


def test_finding_messages_name_the_ranges() -> None:
    (overlap,) = canonical_findings([Range(0x1000, 0x2000), Range(0x2000, 0x2000)], 4096)
    assert "[0x2000, 0x4000)" in overlap.message
    assert "[0x1000, 0x3000)" in overlap.message
    (unsorted,) = canonical_findings([Range(0x5000, 0x1000), Range(0x1000, 0x1000)], 4096)
    assert "[0x1000, 0x2000)" in unsorted.message
    assert "[0x5000, 0x6000)" in unsorted.message


PAGE_SIZES = st.sampled_from([4096, 8192, 0x10000, 0x200000, 1 << 30])


@st.composite
def page_range_lists(draw: st.DrawFn) -> tuple[int, list[Range]]:
    """A page size and a list of page-aligned-ish ranges at the bottom or the top of the address space."""
    page_size = draw(PAGE_SIZES)
    units = draw(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 8)), max_size=8))
    at_top = draw(st.booleans())
    origin = U64_LIMIT - 48 * page_size if at_top else 0
    return page_size, [Range(origin + base * page_size, size * page_size) for base, size in units]


@PROPERTY
@given(page_range_lists())
def test_rangeset_output_has_no_findings(case: tuple[int, list[Range]]) -> None:
    page_size, ranges = case
    assert canonical_findings(RangeSet(ranges).ranges(), page_size) == []


@PROPERTY
@given(page_range_lists())
def test_no_findings_exactly_when_canonical(case: tuple[int, list[Range]]) -> None:
    page_size, ranges = case
    findings = canonical_findings(ranges, page_size)
    assert (findings == []) is (RangeSet(ranges).ranges() == ranges)
    for f in findings:
        assert f.severity is (WARNING if f.rule == "ranges-not-coalesced" else ERROR)
        if f.count == 1:
            assert f.range in ranges
        else:  # the rest of an order rule past the first five, counted in one finding
            assert f.range is None and f.count > 1
            assert [g.rule for g in findings].count(f.rule) == ORDER_FINDINGS_SHOWN + 1


@PROPERTY
@given(page_range_lists())
def test_only_warnings_exactly_when_coalescing_is_all_that_is_missing(case: tuple[int, list[Range]]) -> None:
    page_size, ranges = case
    errors = [f for f in canonical_findings(ranges, page_size) if f.severity is ERROR]
    sorted_disjoint_nonempty = all(r.size > 0 for r in ranges) and all(
        prev.end <= cur.base for prev, cur in itertools.pairwise(ranges)
    )
    assert (errors == []) is sorted_disjoint_nonempty


@pytest.mark.parametrize(
    ("status", "refused"),
    [(b"okay\0", False), (b"ok\0", False), (b"disabled\0", True), (b"fail\0", True), (b"reserved\0", True)],
)
def test_a_pool_a_status_reader_would_skip_is_refused(status: bytes, refused: bool) -> None:
    """of_device_is_available's reading of status: a disabled pool's pages would not be kept."""
    pool = decode_pool("default_pmpool", [COMPATIBLE, ("status", status), ranges_prop([Range(0x100000, 0x1000)])])
    assert rules(pool.problems) == (["binding-invalid"] if refused else [])
    if refused:
        assert f'has status "{status[:-1].decode()}"' in pool.problems[0].message


def test_a_pool_with_a_unit_address_breaks_the_binding() -> None:
    pool = decode_pool("default_pmpool@1", [COMPATIBLE, ranges_prop([Range(0x100000, 0x1000)])])
    assert rules(pool.problems) == ["binding-invalid"]
    assert pool.path == "/default_pmpool@1" and "has a unit address" in pool.problems[0].message
