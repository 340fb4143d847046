"""Yes/no questions about every value of a u64 array, answered from its bytes at C speed.

Asking `min(values)` or `all(v % k == 0 for v in values)` of ten million values makes
ten million ints; these look at one byte of each value (a "lane": every 8th byte of
the array's buffer) with bytes methods instead, and make no int at all.
"""

from __future__ import annotations

import sys
from array import array

_ZERO_VALUE = bytes(8)
# For k = 1..7: the bytes whose low k bits are zero, deleted by `translate` to find the others.
_LOW_BITS_ZERO = {k: bytes(b for b in range(256) if b & ((1 << k) - 1) == 0) for k in range(1, 8)}
_TOP_BIT_CLEAR = bytes(range(0x80))


def _lane(raw: bytes, byte: int) -> bytes:
    """Byte `byte` (0 the least significant) of every value in `raw`, an array's bytes.

    A step slice of a `bytes` is a plain C loop; the same slice of a memoryview goes
    through the buffer protocol's strided copy, three times slower at a million values.
    """
    offset = byte if sys.byteorder == "little" else 7 - byte
    return raw[offset::8]


def all_aligned(values: array[int], alignment: int) -> bool:
    """True when every value is a multiple of `alignment` (a power of two), looking only at low bytes."""
    bits = alignment.bit_length() - 1
    raw = values.tobytes() if bits else b""
    for byte in range(bits // 8 + (1 if bits % 8 else 0)):
        lane = _lane(raw, byte)
        low_bits = min(bits - 8 * byte, 8)
        if low_bits == 8:
            if lane.count(0) != len(lane):
                return False
        elif lane.translate(None, _LOW_BITS_ZERO[low_bits]):
            return False
    return True


_CHUNK_VALUES = 1 << 16  # values searched per copy: a chunk of 512 KiB, not a copy of the whole array


def has_zero(values: array[int]) -> bool:
    """True when a value is 0: eight zero bytes on a value boundary (`min` would make a million ints)."""
    view = memoryview(values).cast("B")
    step = 8 * _CHUNK_VALUES
    for start in range(0, len(view), step):  # chunks end on value boundaries: no value is split
        raw = view[start : start + step].tobytes()
        at = raw.find(_ZERO_VALUE)
        while at >= 0:
            if at % 8 == 0:
                return True
            at = raw.find(_ZERO_VALUE, at + 8 - at % 8)
    return False


def all_below_2_63(values: array[int]) -> bool:
    """True when no value has its top bit set: then no sum of two values reaches 2**64."""
    return not _lane(values.tobytes(), 7).translate(None, _TOP_BIT_CLEAR)
