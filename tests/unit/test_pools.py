"""Several pools in one blob (issue 18): names as dump prints them, finding them, pages held by two."""

from __future__ import annotations

import pytest

from pmpoolctl.check.pools import OVERLAPS_SHOWN, pools_overlap
from pmpoolctl.errors import PoolNameError
from pmpoolctl.pool.binding import claims_pool_compatible, decode_pool, encode_u64_pairs
from pmpoolctl.pool.names import checked_name
from pmpoolctl.ranges.rangeset import Range

PAGE = 0x1000


def pool(name: str, *ranges: tuple[int, int]):  # type: ignore[no-untyped-def]
    return decode_pool(
        name,
        [
            ("compatible", b"pmpool-v1\0"),
            ("page-size", PAGE.to_bytes(4, "big")),
            ("page-ranges", encode_u64_pairs([Range(b, s) for b, s in ranges])),
        ],
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("default_pmpool", "default_pmpool"),
        ("/default_pmpool", "default_pmpool"),
        ("/iommu_pmpool", "iommu_pmpool"),
        ("//x", None),
        ("/", None),
        ("", None),
        ("/a/b", None),
        ("pool@1000", "pool@1000"),  # a look-up is exact: a pool with a unit address can be checked
        ("pool@", None),
        ("pool@1@2", None),
        ("/" + "a" * 31, "a" * 31),
        ("a" * 32, None),
        ("chosen", None),
        ("memory@0", None),
    ],
)
def test_a_looked_up_pool_name(text: str, name: str | None) -> None:
    if name is None:
        with pytest.raises(PoolNameError):
            checked_name(text)
    else:
        assert checked_name(text) == name


def test_a_pool_is_a_node_whose_compatible_names_the_binding_among_its_strings() -> None:
    """As libfdt's fdt_stringlist_contains reads a compatible list: a reader that matches by
    compatible takes each of these for a pool (the ones not exactly "pmpool-v1" break the binding)."""
    assert claims_pool_compatible(b"pmpool-v1\0")
    assert claims_pool_compatible(b"vendor,pool\0pmpool-v1\0")
    assert claims_pool_compatible(b"pmpool-v1\0other\0")
    assert claims_pool_compatible(b"pmpool-v1")  # no NUL: libfdt may read the padding after it as one
    assert not claims_pool_compatible(b"pmpool-v2\0")
    assert not claims_pool_compatible(b"xpmpool-v1\0")
    assert not claims_pool_compatible(b"pmpool-v1x\0")
    assert not claims_pool_compatible(b"")


def test_apart_pools_share_nothing() -> None:
    a = pool("a", (0x100000, 0x2000), (0x200000, 0x1000))
    b = pool("b", (0x102000, 0x1000), (0x300000, 0x1000))  # touches a's first range: no page shared
    assert pools_overlap([a, b], "x.dtb") == {"/a": [], "/b": []}


def test_shared_pages_are_named_on_the_later_pool() -> None:
    a = pool("a", (0x100000, 0x4000), (0x200000, 0x1000))
    b = pool("b", (0x103000, 0x2000), (0x1FF000, 0x3000))
    c = pool("c", (0x200000, 0x1000))
    found = pools_overlap([a, b, c], "x.dtb")
    assert found["/a"] == []
    assert [(f.rule, f.range, f.conflict.start if f.conflict else None) for f in found["/b"]] == [
        ("pools-overlap", Range(0x103000, 0x2000), 0x100000),
        ("pools-overlap", Range(0x1FF000, 0x3000), 0x200000),
    ]
    assert "shares 4 KiB with range [0x100000, 0x104000) of /a" in found["/b"][0].message
    # c against a and against b: the same page, one finding each
    assert [f.conflict.source for f in found["/c"] if f.conflict] == ["x.dtb:/a", "x.dtb:/b"]
    assert all(f.severity.value == "error" for f in found["/c"])


def test_many_shared_ranges_are_summarised() -> None:
    many = [(0x100000 + i * 0x2000, PAGE) for i in range(20)]
    a = pool("a", (0x100000, 0x40000))
    b = pool("b", *many)
    (*shown, rest) = pools_overlap([a, b], "x.dtb")["/b"]
    assert len(shown) == OVERLAPS_SHOWN
    assert rest.count == 20 - OVERLAPS_SHOWN and rest.range is None
    assert "15 more ranges of /b share 60 KiB with /a" in rest.message


def test_a_non_canonical_pool_is_compared_by_its_pages() -> None:
    a = pool("a", (0x200000, 0x1000), (0x100000, 0x1000))  # unsorted: still its pages
    b = pool("b", (0x100000, 0x1000))
    assert [f.range for f in pools_overlap([a, b], "x.dtb")["/b"]] == [Range(0x100000, 0x1000)]


HALF = 1 << 63


def test_disjoint_pools_that_fill_all_2_64_share_nothing() -> None:
    """Together they are all 2^64 addresses (a union no u64 size can say), and still no page is shared."""
    low = pool("low", (0, HALF))
    high = pool("high", (HALF, HALF))
    assert pools_overlap([low, high], "x.dtb") == {"/low": [], "/high": []}


def test_a_pool_of_all_2_64_addresses_overlaps_every_other() -> None:
    """A pool whose ranges cover every address (its own range-overflow error) is compared, not a crash."""
    whole = pool("whole", (0, HALF), (HALF, HALF))
    assert "range-overflow" in [p.rule for p in whole.problems]
    other = pool("other", (0x100000, 0x1000), (0x300000, 0x2000))
    later = pools_overlap([whole, other], "x.dtb")["/other"]
    assert [(f.range, f.conflict.end if f.conflict else None) for f in later] == [
        (Range(0x100000, 0x1000), 1 << 64),
        (Range(0x300000, 0x2000), 1 << 64),
    ]
    (earlier,) = pools_overlap([other, whole], "x.dtb")["/whole"]
    assert earlier.range == Range(0, 1 << 64) and "shares 12 KiB" in earlier.message
    (both,) = pools_overlap([whole, pool("again", (0, HALF), (HALF, HALF))], "x.dtb")["/again"]
    assert both.range == Range(0, 1 << 64)
