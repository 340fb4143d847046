"""Which compatible strings a kernel image holds: what ABIs the next kernel understands.

A kernel that reads KHO state compares compatibles it was built with
(`fdt_node_check_compatible(fdt, 0, "kho-v3")`, `"memblock-v1"`, ...), so each one
is a NUL-terminated string in its read-only data. An image is read as:

- an uncompressed `vmlinux` (ELF) or arm64/RISC-V `Image`: searched as it is;
- an x86 `bzImage`: the payload its setup header points at (`payload_offset`,
  `payload_length`), decompressed;
- an EFI zboot `vmlinuz` (arm64, RISC-V, LoongArch): the payload its header points at;
- a compressed file (`Image.gz`, ...): decompressed;
- anything else: searched as it is, and every compressed stream found in it (as the
  kernel's `scripts/extract-vmlinux` looks for them), a bounded number of them.

gzip, xz, lzma and bzip2 are decompressed with Python's standard library; zstd with
`compression.zstd` (Python 3.14) or the `zstandard` package, lz4 with the `lz4`
package, where importable; otherwise the error says which is missing. Everything is
streamed: memory stays constant, and output past `MAX_DECOMPRESSED` is refused as a
decompression bomb. Files past `MAX_IMAGE_BYTES` are refused.

When the image was built with `CONFIG_IKCONFIG`, its `.config` (between the markers
`IKCFG_ST` and `IKCFG_ED`, gzip) is read too: it says whether KHO is on by default.
"""

from __future__ import annotations

import bz2
import lzma
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import display_name, open_input

MAX_IMAGE_BYTES = 2 << 30  # a vmlinux with debug information is about 1 GiB
MAX_DECOMPRESSED = 512 << 20  # a kernel's decompressed image is 30-200 MiB
MAX_EMBEDDED_STREAMS = 16  # compressed streams tried in an image of no known layout
_CHUNK = 1 << 20
_HEADER = 64 << 10
_IKCONFIG_START, _IKCONFIG_END = b"IKCFG_ST", b"IKCFG_ED"
_MAX_IKCONFIG = 1 << 20
# What may stand before a compatible in the image for the match to be the string itself,
# not the tail of a longer word (a linker may share string tails: then it is not found).
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-;")

# Magic numbers of the compressors the kernel builds images with (scripts/extract-vmlinux).
GZIP, XZ, LZMA, BZIP2, ZSTD, LZ4, LZO = "gzip", "xz", "lzma", "bzip2", "zstd", "lz4", "lzo"
MAGICS = {
    GZIP: b"\x1f\x8b\x08",
    XZ: b"\xfd7zXZ\x00",
    LZMA: b"\x5d\x00\x00",
    BZIP2: b"BZh",
    ZSTD: b"\x28\xb5\x2f\xfd",
    LZ4: b"\x02\x21\x4c\x18",  # the legacy frame the kernel's `lz4 -l` writes
    LZO: b"\x89LZO",
}


@dataclass
class KernelImage:
    """What a scan of an image found: its layout, the compatibles it holds, its .config."""

    path: str
    layout: str
    found: set[str] = field(default_factory=set)
    config: str | None = None  # CONFIG_IKCONFIG's .config, when built in

    def config_value(self, option: str) -> str | None:
        """`y`, `m`, a value, `n` for `# CONFIG_X is not set`; None when unknown (no .config, or not in it)."""
        if self.config is None:
            return None
        for line in self.config.splitlines():
            if line.startswith(option + "="):
                return line.split("=", 1)[1]
            if line == f"# {option} is not set":
                return "n"
        return None


class _Scanner:
    """Finds NUL-terminated needles in a stream of chunks, and captures the IKCONFIG blob."""

    def __init__(self, needles: Iterable[str]) -> None:
        self.needles = {n: n.encode() + b"\0" for n in needles}
        self.found: set[str] = set()
        self.keep = max((len(n) for n in self.needles.values()), default=1) + len(_IKCONFIG_START)
        self.tail = b""
        self.config: bytearray | None = None
        self.config_done = False

    def feed(self, chunk: bytes) -> None:
        data = self.tail + chunk
        for name, needle in self.needles.items():
            if name not in self.found and self._contains(data, needle):
                self.found.add(name)
        self._capture(data, len(self.tail))
        self.tail = data[-self.keep :]

    @staticmethod
    def _contains(data: bytes, needle: bytes) -> bool:
        at = data.find(needle)
        while at >= 0:
            if at == 0 or data[at - 1] not in _NAME_BYTES:
                return True
            at = data.find(needle, at + 1)
        return False

    def _capture(self, data: bytes, old: int) -> None:
        if self.config_done:
            return
        if self.config is None:
            at = data.find(_IKCONFIG_START)
            if at < 0:
                return
            self.config = bytearray(data[at + len(_IKCONFIG_START) :])
        else:
            self.config += data[old:]
        end = self.config.find(_IKCONFIG_END)
        if end >= 0:
            del self.config[end:]
            self.config_done = True
        elif len(self.config) > _MAX_IKCONFIG:
            self.config, self.config_done = None, True  # no end marker: not the kernel's

    def ikconfig(self) -> str | None:
        if not self.config_done or not self.config:
            return None
        try:
            out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bytes(self.config), 4 * _MAX_IKCONFIG)
        except zlib.error:
            return None
        return out.decode("utf-8", "replace")


def _read_chunks(stream: BinaryIO, start: int, length: int | None) -> Iterator[bytes]:
    stream.seek(start)
    left = length
    while left is None or left > 0:
        chunk = stream.read(_CHUNK if left is None else min(_CHUNK, left))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


class NoDecompressor(InputError):
    """The image is compressed in a format no decompressor here reads (zstd, lz4, lzo)."""


_PIECE = 4 << 20  # decompressed output is produced and scanned this much at a time


def _gzip_pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    inner = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in chunks:
        data = chunk
        while data and not inner.eof:
            yield inner.decompress(data, _PIECE)
            data = inner.unconsumed_tail
        if inner.eof:
            return


def _max_length_pieces(inner: Any, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """For decompressors with max_length, eof and needs_input: lzma, bz2, compression.zstd."""
    for chunk in chunks:
        yield inner.decompress(chunk, max_length=_PIECE)
        while not inner.eof and not inner.needs_input:
            yield inner.decompress(b"", max_length=_PIECE)
        if inner.eof:
            return


class _ChunkReader:
    """chunks as a file-like object with read(), for decompressors that pull their input."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        cut = len(self.buffer) if size < 0 else size
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return out


def _zstd_pieces(chunks: Iterable[bytes]) -> Iterator[bytes] | None:
    try:
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]  # Python 3.14+
    except ImportError:
        pass
    else:
        return _max_length_pieces(zstd.ZstdDecompressor(), chunks)
    try:
        import zstandard  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    pieces: Iterator[bytes] = zstandard.ZstdDecompressor().read_to_iter(_ChunkReader(chunks), write_size=_PIECE)
    return pieces


def _lz4_pieces(chunks: Iterable[bytes]) -> Iterator[bytes] | None:
    """The legacy frame the kernel writes (`lz4 -l`): the magic, then blocks (le32 size, data) of 8 MiB out."""
    try:
        import lz4.block  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    block_out = 8 << 20
    magic = int.from_bytes(MAGICS[LZ4], "little")

    def pieces() -> Iterator[bytes]:
        reader = _ChunkReader(chunks)
        while len(word := reader.read(4)) == 4:
            size = int.from_bytes(word, "little")
            if size == magic:
                continue  # the magic, or a concatenated stream starting again
            if size > block_out + (block_out >> 8) + 16:
                return  # no block: the stream has ended (the kernel appends the size after it)
            block = reader.read(size)
            if len(block) < size:
                raise ValueError("truncated lz4 block")
            yield bytes(lz4.block.decompress(block, uncompressed_size=block_out))

    return pieces()


def _pieces(kind: str, chunks: Iterable[bytes], path: str) -> Iterator[bytes]:
    """The stream decompressed, in pieces; an InputError when no decompressor for `kind` is available."""
    if kind == GZIP:
        return _gzip_pieces(chunks)
    if kind in (XZ, LZMA):
        return _max_length_pieces(lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == XZ else lzma.FORMAT_ALONE), chunks)
    if kind == BZIP2:
        return _max_length_pieces(bz2.BZ2Decompressor(), chunks)
    pieces = _zstd_pieces(chunks) if kind == ZSTD else _lz4_pieces(chunks) if kind == LZ4 else None
    if pieces is not None:
        return pieces
    missing = {
        ZSTD: "Python 3.14's compression.zstd or the zstandard package",
        LZ4: "the lz4 package",
    }.get(kind, "an lzo decompressor (Python's standard library has none)")
    raise NoDecompressor(
        f"{display_name(path)}: the kernel is {kind}-compressed, and {missing} is not available here: "
        "decompress it (e.g. with the kernel's scripts/extract-vmlinux) and give the vmlinux"
    )


_ERRORS = (zlib.error, lzma.LZMAError, OSError, ValueError, EOFError, RuntimeError)


def _decompress_into(
    scanner: _Scanner, kind: str, chunks: Iterable[bytes], path: str, strict: bool, budget: int | None = None
) -> int:
    """Feed the decompressed stream to `scanner`; how many bytes it decompressed to.

    Output past `budget` (MAX_DECOMPRESSED) is an InputError (a bomb), and so is, when
    `strict` (a payload a header points at), a stream that does not decompress to its end.
    """
    limit = MAX_DECOMPRESSED if budget is None else budget
    total = 0
    try:
        for piece in _pieces(kind, chunks, path):
            total += len(piece)
            if total > limit:
                raise InputError(
                    f"{display_name(path)}: the {kind} payload decompresses past {MAX_DECOMPRESSED >> 20} MiB: "
                    "not a kernel (a decompression bomb?)"
                )
            scanner.feed(piece)
    except _ERRORS as exc:
        if strict:
            raise InputError(f"{display_name(path)}: the {kind} payload does not decompress: {exc}") from exc
    return total


def _kind_of(head: bytes) -> str | None:
    for kind, magic in MAGICS.items():
        if head.startswith(magic):
            return kind
    return None


def _open(path: str) -> tuple[BinaryIO, int]:
    """The image opened (a regular file, or refused: a FIFO would block), and its size, within the limit."""
    stream = open_input(path)
    size = os.fstat(stream.fileno()).st_size
    if size > MAX_IMAGE_BYTES:
        stream.close()
        raise InputError(
            f"{display_name(path)}: {size} bytes, larger than the {MAX_IMAGE_BYTES >> 30} GiB limit for a kernel image"
        )
    return stream, size


def _payload(head: bytes, size: int) -> tuple[str, int, int] | None:
    """(layout, offset, length) of the compressed kernel a bzImage or an EFI zboot header points at."""
    if len(head) >= 0x250 and head[0x202:0x206] == b"HdrS":
        setup_sects = head[0x1F1] or 4
        offset = int.from_bytes(head[0x248:0x24C], "little") + (setup_sects + 1) * 512
        length = int.from_bytes(head[0x24C:0x250], "little")
        return "bzImage", offset, length
    if len(head) >= 16 and head[:2] == b"MZ" and head[4:8] == b"zimg":
        return "EFI zboot", int.from_bytes(head[8:12], "little"), int.from_bytes(head[12:16], "little")
    return None


def scan_image(path: str, needles: Iterable[str]) -> KernelImage:
    """Which of `needles` (compatibles) the kernel in `path` holds, read as its layout says."""
    scanner = _Scanner(needles)
    stream, size = _open(path)
    with stream:
        try:
            head = stream.read(_HEADER)
        except OSError as exc:
            raise InputError(f"{display_name(path)}: cannot read: {exc.strerror or exc}") from exc
        layout = _scan(scanner, stream, head, size, path)
    return KernelImage(path, layout, scanner.found, scanner.ikconfig())


def _scan(scanner: _Scanner, stream: BinaryIO, head: bytes, size: int, path: str) -> str:
    name = display_name(path)
    try:
        payload = _payload(head, size)
        if payload is not None:
            layout, offset, length = payload
            stream.seek(offset)
            kind = _kind_of(stream.read(8))
            if offset + length > size or kind is None:
                raise InputError(
                    f"{name}: {layout} header points at a payload [{offset:#x}, {offset + length:#x}) that is not "
                    f"a known compressed kernel in this {size}-byte file"
                )
            _decompress_into(scanner, kind, _read_chunks(stream, offset, length), path, strict=True)
            return f"{layout}, {kind} payload"
        kind = _kind_of(head)
        if kind is not None:
            _decompress_into(scanner, kind, _read_chunks(stream, 0, None), path, strict=True)
            return f"{kind}-compressed image"
        for chunk in _read_chunks(stream, 0, None):
            scanner.feed(chunk)
        if head.startswith(b"\x7fELF"):
            return "vmlinux (ELF)"
        if head[0x38:0x3C] in (b"ARM\x64", b"RSC\x05"):
            return "uncompressed Image"
        if scanner.found:
            return "uncompressed"
        return _scan_embedded(scanner, stream, path)
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from exc


def _scan_embedded(scanner: _Scanner, stream: BinaryIO, path: str) -> str:
    """Try the compressed streams found anywhere in the file, as extract-vmlinux does (a bounded number)."""
    offsets: set[tuple[int, str]] = set()
    previous, position = b"", 0
    for chunk in _read_chunks(stream, 0, None):
        data, base = previous + chunk, position - len(previous)
        for kind, magic in MAGICS.items():
            at = data.find(magic)
            while at >= 0 and len(offsets) < 4 * MAX_EMBEDDED_STREAMS:
                offsets.add((base + at, kind))
                at = data.find(magic, at + 1)
        previous, position = data[-8:], position + len(chunk)
    unavailable: NoDecompressor | None = None
    decompressed: list[str] = []
    budget = MAX_DECOMPRESSED  # for all the streams together: sixteen near-bombs are one bomb
    for offset, kind in sorted(offsets)[:MAX_EMBEDDED_STREAMS]:
        try:
            produced = _decompress_into(scanner, kind, _read_chunks(stream, offset, None), path, False, budget)
            budget -= produced
            if produced:
                decompressed.append(kind)
        except NoDecompressor as exc:
            unavailable = unavailable or exc  # said only when no other stream holds the kernel
        if scanner.found:
            return f"compressed {kind} stream at {offset:#x}"
    if unavailable is not None:
        raise unavailable
    return "unknown layout" + (f" ({', '.join(decompressed)} streams decompressed)" if decompressed else "")
