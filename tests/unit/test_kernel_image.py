"""--next-kernel IMAGE: small kernel-like images built here (vmlinux, Image, Image.gz, bzImage with every
stdlib payload, EFI zboot, an unknown wrapper), and hostile ones (bombs, lies in the header, huge files)."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pmpoolctl.kho import kernelimage
from tests.conftest import EXAMPLES, assert_input_error, run_cli
from tests.helpers.khotrees import kho_out

IOMEM = EXAMPLES / "memmap" / "iomem.txt"
POOL = EXAMPLES / "pool.dtb"
V3_NEEDS = ("kho-v3", "memblock-v1", "reserve-mem-v1")  # tests/khotrees.py's kho-v3 state, without LUO
FILLER = bytes(range(256)) * 256


def vmlinux(*compatibles: str, config: str | None = None, elf: bool = True) -> bytes:
    """Code-like filler, then the compatibles as C strings in 'rodata', then CONFIG_IKCONFIG's markers and .config."""
    strings = b"".join(b"\0" + c.encode() for c in compatibles) + b"\0"
    ikconfig = b"" if config is None else b"IKCFG_ST" + gzip.compress(config.encode()) + b"IKCFG_ED"
    head = b"\x7fELF" + bytes(60) if elf else bytes(0x38) + b"ARM\x64" + bytes(4)
    return head + FILLER + strings + FILLER + ikconfig + FILLER


def bzimage(payload: bytes) -> bytes:
    """An x86 boot image: setup header (HdrS, setup_sects, payload_offset/_length), then the protected-mode part."""
    setup = bytearray(2 * 512)  # the boot sector and one setup sector
    setup[0x1F1] = 1
    setup[0x202:0x206] = b"HdrS"
    offset = 0x200  # into the protected-mode part, after its decompressor stub
    setup[0x248:0x24C] = offset.to_bytes(4, "little")
    setup[0x24C:0x250] = len(payload).to_bytes(4, "little")
    return bytes(setup) + bytes(offset) + payload + bytes(64)


def zboot(payload: bytes) -> bytes:
    """An EFI zboot image: MZ, 'zimg', payload offset and size, the compression's name."""
    header = bytearray(0x200)
    header[:2], header[4:8] = b"MZ", b"zimg"
    header[8:12] = len(header).to_bytes(4, "little")
    header[12:16] = len(payload).to_bytes(4, "little")
    header[24:28] = b"gzip"
    return bytes(header) + payload


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "xz": lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
    "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE),
    "bzip2": bz2.compress,
}


def _in_bzimage(compress: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    return lambda kernel: bzimage(compress(kernel))


LAYOUTS: dict[str, Callable[[bytes], bytes]] = {
    "vmlinux": lambda kernel: kernel,
    "Image": lambda kernel: kernel.replace(b"\x7fELF", b"\0\0\0\0", 1),
    "Image.gz": gzip.compress,
    **{f"bzImage-{name}": _in_bzimage(compress) for name, compress in COMPRESSORS.items()},
    "zboot": lambda kernel: zboot(gzip.compress(kernel)),
    "wrapped-xz": lambda kernel: b"MZ some stub of no known layout" + FILLER + COMPRESSORS["xz"](kernel),
}


def image(tmp_path: Path, layout: str, kernel: bytes) -> Path:
    path = tmp_path / f"image-{layout}"
    path.write_bytes(LAYOUTS[layout](kernel))
    return path


def kho_findings(out: Path, *extra: str, code: int) -> list[dict[str, Any]]:
    run = run_cli(["kho", "validate", str(out), "--memmap", str(IOMEM), "--json", *extra])
    assert run.exit_code == code, (run.exit_code, run.stdout, run.stderr)
    findings: list[dict[str, Any]] = json.loads(run.stdout)["findings"]
    return findings


def junit_skipped(path: Path) -> set[str]:
    import xml.etree.ElementTree as ET

    return {str(case.get("name")) for case in ET.parse(path).iter("testcase") if case.find("skipped") is not None}


def test_junit_skips_no_rule_whose_input_was_given(dtc: str, tmp_path: Path) -> None:
    """--next-kernel, --kho and --next-cmdline each make their rules real JUnit cases, passed or failed."""
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    path = image(tmp_path, "vmlinux", vmlinux(*V3_NEEDS, "pmpool-v1"))
    junit = tmp_path / "r.xml"
    args = ["validate", str(POOL), "--memmap", str(IOMEM), "--junit", str(junit)]
    run_cli(args)
    bare = junit_skipped(junit)
    assert run_cli([*args, "--next-kernel", str(path), "--kho", str(out)]).exit_code == 0
    given = {"abi-unknown-to-next-kernel", "range-in-kho-scratch", "range-in-kho-preserved"}
    assert given <= bare and junit_skipped(junit) == bare - given
    kho = ["kho", "validate", str(out), "--memmap", str(IOMEM), "--junit", str(junit)]
    run_cli(kho)
    bare = junit_skipped(junit)
    cmdline = "kho=on reserve_mem=1M:4K:dm-log"
    run_cli([*kho, "--next-kernel", str(path), "--next-cmdline", cmdline])
    given = {"abi-unknown-to-next-kernel", "reserve-mem-not-requested", "kho-not-requested"}
    assert given <= bare and junit_skipped(junit) == bare - given


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_next_kernel_that_knows_the_abis(dtc: str, tmp_path: Path, layout: str) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    path = image(tmp_path, layout, vmlinux(*V3_NEEDS, "pmpool-v1"))
    assert kho_findings(out, "--next-kernel", str(path), code=0) == []
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
    assert run.exit_code == 0, run.stdout + run.stderr


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_next_kernel_of_another_kho_version(dtc: str, tmp_path: Path, layout: str) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3")
    path = image(tmp_path, layout, vmlinux("kho-v1", "memblock-v1", "reserve-mem-v1"))
    (finding,) = kho_findings(out, "--next-kernel", str(path), code=1)
    assert (finding["rule"], finding["severity"]) == ("abi-unknown-to-next-kernel", "error")
    assert "does not hold 'kho-v3':" in finding["message"] and "disables KHO revival" in finding["message"]


@pytest.mark.parametrize(("second", "code"), [("kho-v1", 1), ("kho-v3", 0)])
def test_a_second_root_compatible_counts_only_with_the_same_layout(
    dtc: str, tmp_path: Path, second: str, code: int
) -> None:
    """A next kernel that takes the root by its second string reads it with that string's layout.

    A 7.0 kernel knows only kho-v1: it would take `"kho-v3", "kho-v1"` and misread the v3 layout.
    """
    out = kho_out(dtc, tmp_path / "out", f'kho-v3", "{second}')  # the DTS's compatible gets two strings
    path = image(tmp_path, "vmlinux", vmlinux(second, "memblock-v1", "reserve-mem-v1"))
    findings = kho_findings(out, "--next-kernel", str(path), code=code)
    assert [f["rule"] for f in findings] == (["abi-unknown-to-next-kernel"] if code else [])


def test_a_compatible_is_a_whole_string_not_the_tail_of_another(dtc: str, tmp_path: Path) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3", luo=True)
    path = image(tmp_path, "vmlinux", vmlinux("xkho-v3", "memblock-v1", "reserve-mem-v1", "luo-v1x", "luo-session-v1"))
    (finding,) = kho_findings(out, "--next-kernel", str(path), code=1)
    assert "does not hold 'kho-v3', 'luo-v1':" in finding["message"]


def test_validate_checks_that_the_next_kernel_knows_pmpool(tmp_path: Path) -> None:
    path = image(tmp_path, "bzImage-xz", vmlinux(*V3_NEEDS))
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path), "--json"])
    assert run.exit_code == 1
    (finding,) = json.loads(run.stdout)["findings"]
    assert finding["rule"] == "abi-unknown-to-next-kernel" and "'pmpool-v1'" in finding["message"]
    assert "bzImage, xz payload" in finding["message"]


@pytest.mark.parametrize(
    ("config", "luo", "expected"),
    [
        ("CONFIG_KEXEC_HANDOVER=y\nCONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y\n", True, None),
        ("CONFIG_KEXEC_HANDOVER=y\n# CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT is not set\n", True, "error"),
        ("CONFIG_KEXEC_HANDOVER=y\n", False, "warning"),  # from before the option: off unless kho=on
        ("CONFIG_SOMETHING_ELSE=y\n", False, "warning"),  # unknown
    ],
)
def test_the_images_config_says_whether_kho_is_on_by_default(
    dtc: str, tmp_path: Path, config: str, luo: bool, expected: str | None
) -> None:
    out = kho_out(dtc, tmp_path / "out", "kho-v3", luo=luo)
    kernel = vmlinux(*V3_NEEDS, "luo-v1", "luo-session-v1", config=config)
    path = image(tmp_path, "bzImage-gzip", kernel)
    cmdline = "reserve_mem=64M:4K:r1 reserve_mem=2M:4K:r2 liveupdate=on"
    findings = kho_findings(
        out, "--next-kernel", str(path), "--next-cmdline", cmdline, code=1 if expected == "error" else 0
    )
    assert [(f["rule"], f["severity"]) for f in findings] == (
        [] if expected is None else [("kho-not-requested", expected)]
    )


# --- what cannot be read: one error line, exit 3 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("magic", "missing"),
    [
        (kernelimage.MAGICS["zstd"], "compression.zstd or the zstandard package"),
        (kernelimage.MAGICS["lz4"], "the lz4 package"),
        (kernelimage.MAGICS["lzo"], "an lzo decompressor"),
    ],
)
def test_a_payload_no_decompressor_here_reads(tmp_path: Path, magic: bytes, missing: str) -> None:
    kind = next(k for k, m in kernelimage.MAGICS.items() if m == magic)
    if kind == "zstd" and kernelimage._zstd_pieces([]) is not None:
        pytest.skip("a zstd decompressor is importable here")
    if kind == "lz4" and kernelimage._lz4_pieces([]) is not None:
        pytest.skip("lz4 is importable here")
    path = tmp_path / "bzImage"
    path.write_bytes(bzimage(magic + FILLER))
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
    assert_input_error(run, str(path), f"{kind}-compressed", missing, "extract-vmlinux")


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_the_bomb_limit_holds_for_every_decompressor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    monkeypatch.setattr(kernelimage, "MAX_DECOMPRESSED", 1 << 20)
    path = tmp_path / "bomb"
    path.write_bytes(bzimage(COMPRESSORS[kind](bytes(8 << 20))))
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
    assert_input_error(run, str(path), f"{kind} payload decompresses past 1 MiB")


def test_the_bomb_limit_holds_for_all_embedded_streams_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Streams tried in an image of no known layout share one budget: three of 600 KiB pass 1 MiB together."""
    monkeypatch.setattr(kernelimage, "MAX_DECOMPRESSED", 1 << 20)
    path = tmp_path / "wrapped"
    path.write_bytes(b"MZ no known layout" + b"".join(FILLER + gzip.compress(bytes(600 << 10)) for _ in range(3)))
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
    assert_input_error(run, str(path), "decompresses past 1 MiB")


def test_a_payload_that_does_not_decompress(tmp_path: Path) -> None:
    good = gzip.compress(vmlinux(*V3_NEEDS))
    corrupt = good[:40] + bytes(200) + good[240:]
    path = tmp_path / "bzImage"
    path.write_bytes(bzimage(corrupt))
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
    assert_input_error(run, str(path), "gzip payload does not decompress")


def test_a_header_that_points_outside_the_file(tmp_path: Path) -> None:
    data = bytearray(bzimage(gzip.compress(vmlinux(*V3_NEEDS))))
    data[0x24C:0x250] = (1 << 30).to_bytes(4, "little")
    path = tmp_path / "bzImage"
    path.write_bytes(bytes(data))
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
    assert_input_error(run, str(path), "bzImage header points at a payload")


def test_what_is_no_image_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path, tmp_path / "missing"):
        run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
        assert_input_error(run, str(path))
    huge = tmp_path / "huge"
    with open(huge, "wb") as stream:
        stream.truncate(kernelimage.MAX_IMAGE_BYTES + 1)  # sparse: no disk is used
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(huge)])
    assert_input_error(run, str(huge), "GiB limit")


def test_an_image_of_no_known_layout_with_nothing_in_it(tmp_path: Path) -> None:
    path = tmp_path / "garbage"
    path.write_bytes(os.urandom(100_000))
    run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path), "--json"])
    assert run.exit_code == 1
    (finding,) = json.loads(run.stdout)["findings"]
    assert "unknown layout" in finding["message"] and "'pmpool-v1'" in finding["message"]


def test_damaged_images_are_a_verdict_or_one_error_line(tmp_path: Path) -> None:
    """Seeded damage to every layout's image (its header first): never a traceback, never exit 70."""
    rng = random.Random(16)
    kernel = vmlinux(*V3_NEEDS, "pmpool-v1", config="CONFIG_KEXEC_HANDOVER=y\n")
    images = {layout: make(kernel) for layout, make in LAYOUTS.items()}
    path = tmp_path / "image"
    for _ in range(150):
        data = bytearray(images[rng.choice(sorted(images))])
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(min(len(data), 0x400)) if rng.random() < 0.5 else rng.randrange(len(data))
            if rng.random() < 0.7:
                data[at] = rng.randrange(256)
            else:
                del data[at:]
                data += rng.randbytes(rng.randint(0, 64))
        path.write_bytes(bytes(data))
        run = run_cli(["validate", str(POOL), "--memmap", str(IOMEM), "--next-kernel", str(path)])
        assert run.exit_code in (0, 1, 3), (run.exit_code, run.stderr)
        assert "internal error" not in run.stderr and len(run.stderr.splitlines()) <= 1, run.stderr
