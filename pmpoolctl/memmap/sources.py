"""Reading a memory-map source of any format: name or detect the format, read, parse; the CPU's width."""

from __future__ import annotations

import os
import re

from pmpoolctl.errors import InputError
from pmpoolctl.files.inputs import STDIN, decode_text, display_name, open_input, read_blob_bytes, read_input
from pmpoolctl.files.sniff import is_fdt, starts_like_json
from pmpoolctl.memmap import FORMATS
from pmpoolctl.memmap.kernlog import is_comment, looks_like_log_line
from pmpoolctl.memmap.model import MemoryMap

# Each format's reader is imported when a map of that format is read (`_read_text_map`): a run
# reads one or two formats, and the others' modules and patterns cost start-up time.

LIVE_SOURCES = ("/proc/iomem", "/sys/firmware/memmap")
CPUINFO = "/proc/cpuinfo"

_IOMEM_FIRST = re.compile(r"\s*[0-9a-fA-F]+-[0-9a-fA-F]+ : ")
# A capture's JSON starts with its schema (`hostcapture` writes it first).
_CAPTURE_HEAD = re.compile(r'\s*\{\s*"schema"\s*:\s*"pmpoolctl\.capture/')


def looks_like_capture(head: str) -> bool:
    return _CAPTURE_HEAD.match(head) is not None


def looks_like_kexec(text: str) -> bool:
    """Whether `text` holds kexec -d's segment list (its count and first segment)."""
    return "nr_segments = " in text and "segment[0]" in text


def detect_format(head: bytes) -> str | None:
    """The format of a file from its first bytes, or None when it cannot be told."""
    if is_fdt(head):
        return "dtb"
    text = head.decode("utf-8", "replace")
    if looks_like_capture(text):  # JSON whose lines quote e820 lines: before the log's test
        return "capture"
    first = _first_line(text)
    if looks_like_log_line(first) or "BIOS-e820:" in text:
        # A timestamped log line starts with '[' too: test it before JSON. A kernel log of
        # kexec -s -d's segments is kexec; a whole boot's log (its e820 table first) is e820.
        return "kexec" if "BIOS-e820:" not in text and looks_like_kexec(text) else "e820"
    if starts_like_json(first):
        return "json"
    if _IOMEM_FIRST.match(first):
        return "iomem"
    if looks_like_kexec(text):
        return "kexec"
    return None


def _detect_late(raw: bytes) -> str | None:
    """A format told by more than the first bytes: kexec -d prints its segments last, after pages of notes."""
    if b"nr_segments = " in raw and b"segment[0]" in raw:
        return "kexec"
    return None


def _first_line(text: str) -> str:
    """The first line that is not blank or a `#` note (JSON has neither, so it is its first line)."""
    for line in text.splitlines():
        if line.strip() and not is_comment(line):
            return line
    return ""


def split_format(spec: str) -> tuple[str, str | None]:
    """`FORMAT:PATH` as (PATH, FORMAT) when FORMAT is a format's name; any other SRC is a path as it is.

    So `e820:boot.log` is boot.log read as a kernel log, and a file whose name starts with
    `e820:` is named `./e820:x`.
    """
    name, colon, path = spec.partition(":")
    if colon and path and name in FORMATS:
        return path, name
    return spec, None


def load_memory_map(spec: str, forced_format: str | None = None) -> MemoryMap:
    """The memory map in `spec` (a file, a directory, or - for stdin, after an optional `FORMAT:`).

    A format named in `spec` wins over `forced_format` (--memmap-format, for every source).
    A host capture holds several maps: InputError here (`load_memory_maps` reads them all).
    """
    maps = load_memory_maps(spec, forced_format)
    if len(maps) != 1:
        raise InputError(f"{maps[0].source.partition('#')[0]}: a host capture holds {len(maps)} maps, not one")
    return maps[0]


def load_memory_maps(spec: str, forced_format: str | None = None) -> list[MemoryMap]:
    """The maps in `spec`: one, or those of a host capture (`pmpoolctl capture`)."""
    path, named_format = split_format(spec)
    forced_format = named_format or forced_format
    name = display_name(path)
    if path != STDIN and os.path.isdir(path):
        if forced_format not in (None, "firmware-memmap"):
            raise InputError(f"{name}: is a directory; only the firmware-memmap format is one")
        from pmpoolctl.memmap.sysfs import read_firmware_memmap

        return [read_firmware_memmap(path)]
    if forced_format == "firmware-memmap":
        raise InputError(f"{name}: the firmware-memmap format is a directory like /sys/firmware/memmap")
    if forced_format == "dtb" or (forced_format is None and path != STDIN and _starts_with_fdt(path)):
        return [_blob_map(read_blob_bytes(path), name)]
    raw = read_input(path)
    fmt = forced_format or detect_format(raw[:4096]) or _detect_late(raw)
    if fmt is None:
        raise InputError(
            f"{name}: cannot tell the memory-map format from line 1; name it with --memmap-format "
            f"({', '.join(FORMATS)})"
        )
    if fmt == "dtb":
        return [_blob_map(raw, name)]
    text = decode_text(raw, name)
    del raw  # a big map is held once, as text, while it is parsed
    return _read_text_map(fmt, text, name)


def _blob_map(raw: bytes, name: str) -> MemoryMap:
    from pmpoolctl.dtb.reader import parse_blob
    from pmpoolctl.memmap.blobmap import blob_memory_map

    return blob_memory_map(parse_blob(raw, name))


def _read_text_map(fmt: str, text: str, name: str) -> list[MemoryMap]:
    """The maps in `text`, read as `fmt` (a text format: not dtb, not a directory)."""
    if fmt == "capture":
        from pmpoolctl.memmap.capture import parse_capture

        return parse_capture(text, name)
    if fmt == "iomem":
        from pmpoolctl.memmap.iomem import parse_iomem

        return [parse_iomem(text, name)]
    if fmt == "e820":
        from pmpoolctl.memmap.e820 import parse_e820

        return [parse_e820(text, name)]
    if fmt == "json":
        from pmpoolctl.memmap.jsonmap import parse_json_map

        return [parse_json_map(text, name)]
    if fmt == "kexec":
        from pmpoolctl.memmap.kexec import parse_kexec

        return [parse_kexec(text, name)]
    raise AssertionError(f"not a text format: {fmt}")


def _starts_with_fdt(path: str) -> bool:
    try:
        with open_input(path) as stream:  # a FIFO is refused, never waited on
            head = stream.read(4)
    except OSError as exc:
        raise InputError(f"{display_name(path)}: cannot read: {exc.strerror or exc}") from exc
    return is_fdt(head)


_ADDRESS_SIZES = re.compile(r"address sizes\s*:\s*(\d{1,3}) bits physical")
_CPUINFO_HEAD = 1 << 20  # the first CPU's block holds the line; a machine's whole file is a few MB


def cpu_phys_bits(path: str | None = None) -> int | None:
    """The CPU's physical address width (`address sizes : 46 bits physical`) in cpuinfo (CPUINFO), or None.

    x86 prints the line; arm64 and others do not, and then there is no width to hold ranges to.
    """
    path = path or CPUINFO
    try:
        with open(path, "rb") as stream:
            head = stream.read(_CPUINFO_HEAD).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    at = head.find("address sizes")
    if at < 0:
        return None
    match = _ADDRESS_SIZES.match(head, at)
    if match is None or not 1 <= int(match[1]) <= 64:
        lineno, end = head.count("\n", 0, at) + 1, head.find("\n", at)
        line = head[at : end if end >= 0 else len(head)]
        raise InputError(f"{path}:{lineno}: not 'address sizes : N bits physical' with N from 1 to 64: {line[:60]!r}")
    return int(match[1])


def live_phys_bits(given: int | None, live: bool) -> int | None:
    """--phys-bits as given; under --live without it, the width of this host's CPU."""
    return given if given is not None or not live else cpu_phys_bits()
