"""A pool's page ranges as two u64 arrays: a million ranges in 16 MB, checked at C speed.

`page-ranges` is decoded straight from the blob's bytes into `bases` and
`sizes` (`array("Q")`, native order), never into a million Python objects.
The checks a valid pool passes (`is_canonical`) run on the arrays' bytes (`u64lanes`),
and the edits (`union`, `difference`) as `map`/slice/`bisect` over the arrays, so their
loops stay in C; a `Range` is made only for the ranges a message or a table row needs.
Everything here assumes, and keeps, the canonical form the binding requires
(sorted, disjoint, not touching, non-empty) except `is_canonical`, which checks it.
"""

from __future__ import annotations

import bisect
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from operator import add, lt
from typing import overload

from pmpoolctl.buffers import Buffer
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges.rangeset import Range, RangeSet
from pmpoolctl.ranges.u64lanes import all_aligned, all_below_2_62, ends_below_next_bases, has_zero

PAIR_BYTES = 16  # a (base, size) pair of big-endian u64
_DECODE_PAIRS = 1 << 16  # pairs decoded per scratch array: 1 MiB
_MAX_PIECES = 4096  # an edit's result in more pieces than this is encoded whole (see `_Builder`)


def _u64_array(values: Iterable[int] = ()) -> array[int]:
    return array("Q", values)


class RangeArray(Sequence[Range]):
    """Ranges in stored order, as parallel u64 arrays of bases and sizes."""

    __slots__ = ("_bases", "_be_parts", "_sizes", "_total")

    def __init__(
        self,
        bases: array[int] | None = None,
        sizes: array[int] | None = None,
        total: int | None = None,
        be_parts: list[Buffer] | None = None,
    ) -> None:
        # The arrays are never changed once a RangeArray holds them; edits make new ones.
        self._bases: array[int] | None = _u64_array() if bases is None else bases
        self._sizes: array[int] | None = _u64_array() if sizes is None else sizes
        self._total = total
        # The big-endian pairs as pieces of a blob, when known: the bytes this array was
        # decoded from, or an edit's runs of them plus its new pairs (see `_Builder`).
        self._be_parts = be_parts

    @classmethod
    def of_be_pairs(cls, pairs: memoryview, total: int | None = None) -> RangeArray:
        """Ranges held as their big-endian pairs only (bytes, whole pairs); the columns are decoded
        when first read. A batch's result goes into the blob as these pairs and its columns are
        seldom read (a dry run lists them): not decoding them keeps a second copy of a million
        ranges off the edit's peak."""
        if len(pairs) % PAIR_BYTES:
            raise ValueError(f"{len(pairs)} bytes is not a whole number of {PAIR_BYTES}-byte pairs")
        result = cls(total=total, be_parts=[pairs])
        result._bases = result._sizes = None
        return result

    @property
    def bases(self) -> array[int]:
        bases = self._bases
        return bases if bases is not None else self._decoded()[0]

    @property
    def sizes(self) -> array[int]:
        sizes = self._sizes
        return sizes if sizes is not None else self._decoded()[1]

    def _decoded(self) -> tuple[array[int], array[int]]:
        assert self._be_parts is not None, "only of_be_pairs leaves the columns to decode"
        columns = RangeArray.from_be_bytes(self._be_parts[0])
        self._bases, self._sizes = columns.bases, columns.sizes
        return columns.bases, columns.sizes

    @classmethod
    def from_be_bytes(cls, data: bytes | memoryview) -> RangeArray:
        """Big-endian (base, size) pairs; trailing bytes short of a pair are ignored."""
        pairs = memoryview(data)[: len(data) - len(data) % PAIR_BYTES].cast("B")
        # A chunk of pairs at a time into a scratch array, split into the two columns (made at
        # their full length first) by step slices of that array: three times as fast as a
        # strided memoryview copy per column, and never the whole pool interleaved in one array
        # besides the two columns (16 MB more at 1M ranges).
        count = len(pairs) // PAIR_BYTES
        bases, sizes = _u64_array([0]) * count, _u64_array([0]) * count
        swap = sys.byteorder == "little"
        for first in range(0, count, _DECODE_PAIRS):
            words = _u64_array()
            words.frombytes(pairs[first * PAIR_BYTES : (first + _DECODE_PAIRS) * PAIR_BYTES])
            if swap:
                words.byteswap()
            last = first + len(words) // 2
            bases[first:last] = words[0::2]
            sizes[first:last] = words[1::2]
        return cls(bases, sizes, be_parts=[pairs])

    @classmethod
    def from_ranges(cls, ranges: Iterable[Range]) -> RangeArray:
        """From ranges whose bases and sizes fit in a u64 (a canonical RangeSet's always do)."""
        result = cls()
        for r in ranges:
            result.bases.append(r.base)
            result.sizes.append(r.size)
        return result

    def to_be_bytes(self) -> bytes:
        return b"".join(self.be_parts())

    def be_parts(self) -> list[Buffer]:
        """The big-endian (base, size) pairs, in pieces to be joined once.

        After an edit these are runs of the bytes the array was decoded from plus the
        new pairs, so a one-range edit of a million ranges encodes one pair, not 16 MB.
        """
        if self._be_parts is not None:
            return self._be_parts
        return [self._be_view()]

    def _be_view(self) -> memoryview:
        words = self.bases + self.sizes  # the right length without a zeroed buffer; overwritten next
        words[0::2] = self.bases
        words[1::2] = self.sizes
        if sys.byteorder == "little":
            words.byteswap()
        return memoryview(words).cast("B")

    def __len__(self) -> int:
        bases = self._bases
        if bases is None:
            assert self._be_parts is not None
            return len(self._be_parts[0]) // PAIR_BYTES
        return len(bases)

    @overload
    def __getitem__(self, index: int) -> Range: ...
    @overload
    def __getitem__(self, index: slice) -> RangeArray: ...
    def __getitem__(self, index: int | slice) -> Range | RangeArray:
        if isinstance(index, slice):
            return RangeArray(self.bases[index], self.sizes[index])
        return Range(self.bases[index], self.sizes[index])

    def __iter__(self) -> Iterator[Range]:
        return map(Range, self.bases, self.sizes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RangeArray):
            return NotImplemented
        return len(self) == len(other) and self.bases == other.bases and self.sizes == other.sizes

    __hash__ = None  # type: ignore[assignment]  # mutable arrays

    def __repr__(self) -> str:
        shown = ", ".join(str(r) for r in islice(self, 4))
        return f"RangeArray({len(self)} ranges: {shown}{', ...' if len(self) > 4 else ''})"

    def ends(self) -> Iterator[int]:
        """base + size of each range (may be 2**64 or more in a broken pool)."""
        return map(add, self.bases, self.sizes)

    def spans(self) -> Iterator[tuple[int, int]]:
        """(base, end) of each range, as `RangeSet.spans` gives them."""
        return zip(self.bases, self.ends())

    @property
    def total_size(self) -> int:
        """Bytes in all ranges; summed once (a million sizes take milliseconds), edits derive theirs."""
        if self._total is None:
            self._total = sum(self.sizes)
        return self._total

    def is_canonical(self, page_size: int) -> bool:
        """Sorted, disjoint, not touching, non-empty, page-aligned and inside 2**64: what a valid pool is.

        A fast yes/no; the binding's exact findings come from the slow per-range path
        and only run when this says no.
        """
        bases, sizes = self.bases, self.sizes
        if not bases:
            return True
        raw_bases, raw_sizes = bases.tobytes(), sizes.tobytes()  # each copied once for its questions
        if has_zero(raw_sizes) or not (all_aligned(raw_bases, page_size) and all_aligned(raw_sizes, page_size)):
            return False
        below_2_62 = all_below_2_62(raw_bases) and all_below_2_62(raw_sizes)
        del raw_bases, raw_sizes
        if not self.is_apart(below_2_62):
            return False
        return bases[-1] + sizes[-1] <= U64_LIMIT  # ordered, so only the last can run past 2**64

    def is_apart(self, below_2_62: bool | None = None) -> bool:
        """Each end strictly below the next base: sorted, disjoint and not touching (for non-empty ranges).

        In big-integer lanes (`ends_below_next_bases`) where every value is below 2**62, as all
        but hostile pools are (past 4 EiB); `below_2_62` is that, when the caller knows it.
        """
        if below_2_62 is None:
            below_2_62 = all_below_2_62(self.bases) and all_below_2_62(self.sizes)
        if below_2_62:
            return ends_below_next_bases(self.bases, self.sizes)
        return all(map(lt, self.ends(), islice(self.bases, 1, None)))

    def is_canonical_like(self, page_size: int, other: RangeArray) -> bool:
        """`is_canonical(page_size)`, given that `other` is canonical for `page_size`.

        The ranges this array shares with `other` at its head and its tail (found by comparing
        bytes in C) hold the canonical form already, each and pair by pair; only the middle is
        checked, with one shared range on each side for the pairs across. Two versions of a pool
        of ten million ranges that differ in one place cost one check, not two.
        """
        head, tail = common_ends(self, other)
        if head + tail == 0:
            return self.is_canonical(page_size)
        return self[max(head - 1, 0) : len(self) - max(tail - 1, 0)].is_canonical(page_size)

    # --- queries and edits on a canonical array ---------------------------------------------

    def _end(self, index: int) -> int:
        return self.bases[index] + self.sizes[index]

    def _touching(self, start: int, end: int) -> tuple[int, int]:
        """Indices [i, j) of the ranges that overlap or touch [start, end)."""
        i = bisect.bisect_left(self.bases, start)
        if i > 0 and self._end(i - 1) >= start:
            i -= 1
        j = bisect.bisect_right(self.bases, end)
        return i, j

    def overlapping(self, r: Range) -> Range | None:
        """The first range of the array that shares an address with `r`, or None."""
        if r.size == 0:
            return None
        i = bisect.bisect_right(self.bases, r.base) - 1  # the range holding r.base, if any
        if i >= 0 and self._end(i) > r.base:
            return self[i]
        if i + 1 < len(self) and self.bases[i + 1] < r.end:
            return self[i + 1]
        return None

    def union(self, other: Spans) -> RangeArray:
        """Addresses in either; the result is canonical (touching ranges merge).

        Built front to back: untouched runs of ranges are copied as array slices, and
        each span of `other` is written merged with the ranges it touches.
        """
        out = _Builder(self)
        bases, sizes = out.bases, out.sizes
        kept = 0  # ranges before this index are written (or merged into what is)
        removed = added = 0  # bytes of the ranges replaced, and of what replaced them
        for span_start, span_end in other.spans():
            start, end = span_start, span_end
            i, j = self._touching(start, end)
            if i < j:
                start, end = min(start, self.bases[i]), max(end, self._end(j - 1))
            if i < kept:
                # This span reaches a range the previous one merged, so the two become one.
                # (Spans that share no range cannot touch: both sets are canonical.)
                size = sizes.pop()
                start = bases.pop()
                end = max(end, start + size)
                added -= size
                removed += sum(self.sizes[kept:j])
            else:
                out.copy(kept, i)
                removed += sum(self.sizes[i:j])
            bases.append(start)
            sizes.append(end - start)
            added += end - start
            kept = max(kept, j)
        out.copy(kept, len(self))
        return out.result(self.total_size - removed + added)

    def difference(self, other: Spans) -> RangeArray:
        """Addresses here and not in `other`, built front to back like `union`.

        A run of spans that are exactly ranges here, one after the other (a batch removing
        what a batch added), is skipped in one step: compared in C by `same_run`.
        """
        cuts = other if isinstance(other, RangeArray) else RangeArray.from_ranges(other)
        cut_bases, cut_sizes = cuts.bases, cuts.sizes
        out = _Builder(self)
        bases, sizes = out.bases, out.sizes
        kept = 0
        removed = added = 0  # as in `union`
        t = 0
        while t < len(cut_bases):
            start = cut_bases[t]
            end = start + cut_sizes[t]
            t += 1
            i = bisect.bisect_right(self.bases, start) - 1
            if i < 0 or self._end(i) <= start:
                i += 1
            j = bisect.bisect_left(self.bases, end)  # [i, j): the ranges this span cuts
            if i >= j:
                continue
            if i < kept:
                # The previous span cut this same range and wrote its tail last; the tail
                # starts where that span ended, before this one starts (spans do not touch).
                added -= sizes.pop()
                sizes.append(start - bases[-1])
                added += sizes[-1]
                removed += sum(self.sizes[kept:j])
            else:
                out.copy(kept, i)
                if start == self.bases[i] and end == self._end(i):  # range i goes whole, and the run after it
                    run = 1 + same_run(self, i + 1, cuts, t)
                    removed += sum(self.sizes[i : i + run])
                    kept, t = i + run, t + run - 1
                    continue
                removed += sum(self.sizes[i:j])
                if self.bases[i] < start:
                    bases.append(self.bases[i])
                    sizes.append(start - self.bases[i])
                    added += sizes[-1]
            last_end = self._end(j - 1)
            if last_end > end:
                bases.append(end)
                sizes.append(last_end - end)
                added += sizes[-1]
            kept = j
        out.copy(kept, len(self))
        return out.result(self.total_size - removed + added)

    def first_missing(self, other: Spans) -> Range | None:
        """The first canonical piece of `other` that is not in the array, or None."""
        for start, end in other.spans():
            i = bisect.bisect_right(self.bases, start) - 1
            if i < 0 or self._end(i) <= start:
                stop = self.bases[i + 1] if i + 1 < len(self) else end
                return Range.span(start, min(end, stop))
            if self._end(i) < end:  # canonical: the next range starts past this end, a gap
                gap_end = self.bases[i + 1] if i + 1 < len(self) else end
                return Range.span(self._end(i), min(end, gap_end))
        return None


Spans = RangeArray | RangeSet  # canonical ranges an edit takes: both give `spans()`


def same_run(a: RangeArray, i: int, b: RangeArray, t: int) -> int:
    """How many ranges a[i:] and b[t:] share exactly, from their first: galloping, slices compared in C."""
    limit = min(len(a) - i, len(b) - t)
    if limit <= 0 or a.bases[i] != b.bases[t] or a.sizes[i] != b.sizes[t]:
        return 0
    views = [memoryview(x) for x in (a.bases, a.sizes, b.bases, b.sizes)]

    def same(start: int, stop: int) -> bool:  # a[i + start : i + stop] == b[t + start : t + stop]
        a_bases, a_sizes, b_bases, b_sizes = views
        return (
            a_bases[i + start : i + stop] == b_bases[t + start : t + stop]
            and a_sizes[i + start : i + stop] == b_sizes[t + start : t + stop]
        )

    done, step = 1, 1
    while done + step <= limit and same(done, done + step):  # double while the run goes on
        done += step
        step *= 2
    while step > 1:  # then the first difference (or the limit) is within [done, done + step)
        step //= 2
        if done + step <= limit and same(done, done + step):
            done += step
    return done


def subtract(a: RangeArray, b: RangeArray) -> RangeArray:
    """Addresses in canonical `a` and not in canonical `b`, as a canonical array.

    One sweep over both arrays' u64 values: no Range objects and no lists of ints, so the
    difference of two pools of a million ranges each costs arrays, not a gigabyte of objects.
    """
    a_bases, a_sizes, b_bases, b_sizes = a.bases, a.sizes, b.bases, b.sizes
    out_bases, out_sizes = _u64_array(), _u64_array()
    add_base, add_size = out_bases.append, out_sizes.append
    j, count = 0, len(b_bases)
    total = 0
    for i in range(len(a_bases)):
        start = a_bases[i]
        end = start + a_sizes[i]
        while j < count and b_bases[j] + b_sizes[j] <= start:  # spans of `b` wholly before this range
            j += 1
        cursor = start
        k = j
        while k < count and b_bases[k] < end:
            cut = b_bases[k]
            if cut > cursor:
                add_base(cursor)
                add_size(cut - cursor)
                total += cut - cursor
            cursor = cut + b_sizes[k]
            if cursor >= end:  # this span reaches into the next range too: keep it for that one
                break
            k += 1
        j = k
        if cursor < end:
            add_base(cursor)
            add_size(end - cursor)
            total += end - cursor
    return RangeArray(out_bases, out_sizes, total)


def changed(before: RangeArray, after: RangeArray) -> tuple[RangeArray, RangeArray]:
    """(ranges only in `before`, ranges only in `after`) of two canonical arrays, in order.

    An edit changes a few places in a long array: the common head and tail are skipped
    by comparing array slices (C). In the middle, each range of the smaller side is
    looked up in the larger by bisection (a canonical array has one range a base), and
    the larger side's ranges between two found are copied as slices: a batch of ten
    million ranges shown by `--dry-run` costs arrays, not ten million Range objects.
    """
    head, tail = common_ends(before, after)
    old, new = before[head : len(before) - tail], after[head : len(after) - tail]
    if len(old) <= len(new):
        return _unmatched(old, new)
    new_only, old_only = _unmatched(new, old)
    return old_only, new_only


def _unmatched(small: RangeArray, large: RangeArray) -> tuple[RangeArray, RangeArray]:
    """(ranges of `small` not in `large`, ranges of `large` not in `small`), walking `small`."""
    small_only, large_only = RangeArray(), RangeArray()
    kept = 0  # ranges of `large` before this index are matched or copied
    for base, size in zip(small.bases, small.sizes):
        i = bisect.bisect_left(large.bases, base, kept)
        if i < len(large) and large.bases[i] == base and large.sizes[i] == size:
            large_only.bases.extend(large.bases[kept:i])
            large_only.sizes.extend(large.sizes[kept:i])
            kept = i + 1
        else:
            small_only.bases.append(base)
            small_only.sizes.append(size)
    large_only.bases.extend(large.bases[kept:])
    large_only.sizes.extend(large.sizes[kept:])
    return small_only, large_only


def common_ends(a: RangeArray, b: RangeArray) -> tuple[int, int]:
    """(head, tail): how many ranges `a` and `b` share at their start and, after that, at their end."""
    head = _common_prefix(a, b, 0, min(len(a), len(b)), reverse=False)
    tail = _common_prefix(a, b, 0, min(len(a), len(b)) - head, reverse=True)
    return head, tail


_COMPARE_RANGES = 1 << 14  # ranges compared per step while the arrays agree


def _common_prefix(a: RangeArray, b: RangeArray, low: int, limit: int, *, reverse: bool) -> int:
    """How many ranges (at most `limit`) `a` and `b` share from their start (from their end if
    `reverse`): views compared in steps of _COMPARE_RANGES, then by bisection inside the first
    step that differs. Views, not slices: no copy of a 10M-range array per probe."""
    views = [memoryview(x) for x in (a.bases, a.sizes, b.bases, b.sizes)]
    a_len, b_len = len(a), len(b)

    def same(start: int, stop: int) -> bool:  # ranges [start, stop) counted from the start (or the end)
        a_bases, a_sizes, b_bases, b_sizes = views
        if reverse:
            return (
                a_bases[a_len - stop : a_len - start] == b_bases[b_len - stop : b_len - start]
                and a_sizes[a_len - stop : a_len - start] == b_sizes[b_len - stop : b_len - start]
            )
        return a_bases[start:stop] == b_bases[start:stop] and a_sizes[start:stop] == b_sizes[start:stop]

    done = low
    while done < limit:
        stop = min(done + _COMPARE_RANGES, limit)
        if same(done, stop):
            done = stop
            continue
        high = stop - 1  # the answer is in [done, high]: ranges [done, answer) agree
        while done < high:
            middle = (done + high + 1) // 2
            if same(done, middle):
                done = middle
            else:
                high = middle - 1
        return done
    return done


class _Builder:
    """The arrays of an edit's result, written front to back, and its big-endian pieces.

    `copy(i, j)` takes ranges [i, j) of the source unchanged: their values are copied
    from the source's buffers without a temporary slice, and their big-endian bytes
    are a view of the source's pieces. Ranges appended to `bases` and `sizes`
    directly are new; they may be changed or popped until the next copy, and are
    encoded by `result` (a handful of pairs in a usual edit). An edit of many places
    (a batch of 100k ranges into the gaps of a pool) has no pieces: its result is
    encoded whole, in one C pass, cheaper than joining a piece for each place.
    """

    __slots__ = ("_new_from", "_pieces", "_source", "_source_be", "bases", "sizes")

    def __init__(self, source: RangeArray) -> None:
        self.bases, self.sizes = _u64_array(), _u64_array()
        self._source = source
        parts = source._be_parts
        # Only the bytes an array was decoded from are one piece that maps index to offset.
        self._source_be = parts[0] if parts is not None and len(parts) == 1 else None
        self._pieces: list[Buffer | tuple[int, int]] = []  # views of the source, or [first, last) of new ranges
        self._new_from = 0

    def copy(self, start: int, stop: int) -> None:
        if start >= stop:
            return
        self._note_new()
        source = self._source
        self.bases.frombytes(memoryview(source.bases).cast("B")[start * 8 : stop * 8])
        self.sizes.frombytes(memoryview(source.sizes).cast("B")[start * 8 : stop * 8])
        self._new_from = len(self.bases)
        if self._source_be is not None:
            self._pieces.append(self._source_be[start * PAIR_BYTES : stop * PAIR_BYTES])

    def _note_new(self) -> None:
        first = self._new_from
        if first < len(self.bases) and self._source_be is not None:
            self._pieces.append((first, len(self.bases)))  # fixed from here on: only appends follow
        self._new_from = len(self.bases)

    def result(self, total: int) -> RangeArray:
        self._note_new()
        parts = None
        if self._source_be is not None and len(self._pieces) <= _MAX_PIECES:
            parts = [self._encoded(piece) if isinstance(piece, tuple) else piece for piece in self._pieces]
        return RangeArray(self.bases, self.sizes, total, be_parts=parts)

    def _encoded(self, new: tuple[int, int]) -> Buffer:
        first, last = new
        return RangeArray(self.bases[first:last], self.sizes[first:last])._be_view()


def range_array_of(ranges: Sequence[Range]) -> RangeArray:
    """`ranges` as a RangeArray (itself when it is one)."""
    return ranges if isinstance(ranges, RangeArray) else RangeArray.from_ranges(ranges)
