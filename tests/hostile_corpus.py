"""A corpus of hostile and broken uploads, built in memory from the fixture photos, each with its expected answer.

Why generated instead of committed: most cases are a few bytes of header surgery on a real photo (a PNG that
declares 100000x100000 pixels, a JPEG cut in half, garbage in the EXIF segment), so the recipe documents *what* is
hostile about each file better than a binary blob would, and the repository stays small. ``tests/test_hostile_
inputs.py`` sends every case to ``POST /analyze`` and ``POST /create-profile``; ``tests/test_fuzz_api.py`` reuses
the seeds and the code-to-status table.

Each :class:`Case` carries the keyword arguments for ``TestClient.post`` and the set of acceptable outcomes:
``"ok"`` (a correct analysis; ``check`` then inspects it) and/or documented error codes. The HTTP status of an error
code is never written twice: :data:`ERROR_STATUS` reads it from the error classes in :mod:`faceproof.errors`.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import numpy as np
from PIL import Image

from faceproof.errors import FaceproofError
from faceproof.web.routes import AssetNotFound
from tests.conftest import fixture_path

#: The settings the corpus is written for (the expected codes depend on them).
MAX_UPLOAD_MB = 2.0
MAX_PIXELS = 4_000_000

OK = "ok"
Body = dict[str, Any]
Check = Callable[[Body], None]


def _error_classes(cls: type[FaceproofError]) -> Iterator[type[FaceproofError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _error_classes(sub)


#: Every documented error code and its HTTP status, read from the error classes themselves.
ERROR_STATUS: dict[str, int] = {c.code: c.status_code for c in _error_classes(FaceproofError) if c is not AssetNotFound}


@dataclass(frozen=True)
class Case:
    """One request and what the API may answer to it (``"ok"`` and/or error codes).

    ``post`` builds the ``TestClient.post`` keyword arguments when the case runs, not when the corpus is listed:
    test collection stays instant and only one case's bytes (up to a few MB) are alive at a time."""

    name: str
    post: Callable[[], dict[str, Any]]
    expect: frozenset[str]
    check: Check | None = field(default=None, compare=False)


# ------------------------------------------------------------------------------------------------ encoders


def encode(img: Image.Image, fmt: str = "JPEG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def upload(data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg") -> dict[str, Any]:
    """``TestClient.post`` keyword arguments for one ``file`` part."""
    return {"files": {"file": (filename, data, content_type)}}


@cache
def portrait() -> Image.Image:
    """A frontal, sharp, single-face photo (560x415) that the pipeline analyses cleanly."""
    return Image.open(fixture_path("df02_01.jpg")).convert("RGB")


@cache
def portrait_jpeg() -> bytes:
    return encode(portrait(), "JPEG", quality=90)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int, idat: bytes = b"") -> bytes:
    """A valid PNG signature and IHDR for an 8-bit greyscale image of any declared size, then ``idat``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_zlib_bomb(side: int) -> bytes:
    """A real decompression bomb: ``side``x``side`` black pixels, ~1000:1 compressed (8000 -> 64 MB in ~64 KB)."""
    row = b"\x00" * (side + 1)  # filter byte + pixels
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return png_declaring(side, side, idat)


def gif_declaring(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF whose logical screen and first frame descriptor declare the given sizes over a 2-colour table."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return header + descriptor + b"\x02\x02\x44\x01\x00;"


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real JPEG's bytes with the frame header (SOF0) patched to declare another size."""
    data = bytearray(portrait_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_declaring(width: int, height: int) -> bytes:
    """An extended-format (VP8X) WebP header declaring a ``width``x``height`` canvas and nothing else."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def tiff_declaring(width: int, height: int) -> bytes:
    """A little-endian TIFF whose only IFD declares a ``width``x``height`` 8-bit greyscale strip image."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8), (279, 4, 1)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, typ, 1, v) for t, typ, v in tags)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00"


def bmp_declaring(width: int, height: int) -> bytes:
    """A BMP header (BITMAPINFOHEADER, 24-bit) declaring the size, with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def with_app_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Insert an APPn segment right after SOI (payload at most 65533 bytes, the segment length limit)."""
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def zip_archive() -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Evil\n")
        zf.writestr("Evil.class", b"\xca\xfe\xba\xbe" + bytes(64))
    return buf.getvalue()


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "hostileBoundary") -> bytes:
    """A hand-built multipart body: (field name, filename or None, content) per part, for malformed requests."""
    out = bytearray()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return bytes(out + f"--{boundary}--\r\n".encode())


# ------------------------------------------------------------------------------------------------ checks


def faces_at_least(n: int) -> Check:
    def check(body: Body) -> None:
        assert body["faces_found"] >= n, body["faces_found"]

    return check


def quality_flag(reason: str) -> Check:
    def check(body: Body) -> None:
        assert reason in body["subject"]["quality"]["reasons"], body["subject"]["quality"]["reasons"]

    return check


def upright(orientation: int) -> Check:
    """The EXIF orientation was applied: the image has the portrait's size and the face is level (|roll| small)."""
    width, height = portrait().size

    def check(body: Body) -> None:
        assert body["image"]["exif_orientation"] == orientation
        assert (body["image"]["width"], body["image"]["height"]) == (width, height)
        assert abs(body["subject"]["geometry"]["roll"]) < 20, body["subject"]["geometry"]["roll"]

    return check


def has_icc(body: Body) -> None:
    assert body["image"]["has_icc_profile"]


# Inverse of each EXIF orientation's display transform: store the portrait like this and tag it, and a correct
# decoder shows it upright again.
STORED_AS: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def exif_rotated(orientation: int) -> bytes:
    transform = STORED_AS[orientation]
    stored = portrait() if transform is None else portrait().transpose(transform)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", exif=exif, quality=92)


# ------------------------------------------------------------------------------------------------ the corpus


def _one(name: str, expect: str | set[str], make: Callable[[], bytes], check: Check | None = None, **kw: Any) -> Case:
    """A case that uploads ``make()`` as the ``file`` part (``kw``: filename and content type)."""
    outcomes = frozenset({expect} if isinstance(expect, str) else expect)
    return Case(name, lambda: upload(make(), **kw), outcomes, check)


def _truncated_and_garbage() -> list[Case]:
    def cut(fmt: str, keep: float | int) -> Callable[[], bytes]:
        def make() -> bytes:
            data = portrait_jpeg() if fmt == "JPEG" else encode(portrait(), fmt)
            return data[: int(len(data) * keep) if isinstance(keep, float) else keep]

        return make

    return [
        _one("zero_bytes", "empty_upload", lambda: b""),
        _one("jpeg_cut_in_half", "truncated_image", cut("JPEG", 0.5)),
        _one("jpeg_headers_only", "truncated_image", cut("JPEG", 600)),
        _one("jpeg_soi_only", "not_an_image", lambda: b"\xff\xd8\xff"),
        _one("png_cut_in_half", "truncated_image", cut("PNG", 0.5), filename="p.png", content_type="image/png"),
        _one("png_signature_only", "not_an_image", cut("PNG", 8), filename="p.png", content_type="image/png"),
        _one("webp_cut_in_half", "truncated_image", cut("WEBP", 0.5), filename="w.webp"),
        _one("gif_cut_in_half", "truncated_image", cut("GIF", 0.5), filename="g.gif"),
        _one("plain_text", "not_an_image", lambda: b"hello, this is definitely not a photo\n" * 20, filename="a.txt"),
        _one(
            "html_page",
            "not_an_image",
            lambda: b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
        ),
        _one(
            "svg_image",
            "not_an_image",
            lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        ),
        _one("pdf_document", "not_an_image", lambda: b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"),
        _one("zip_archive", "not_an_image", zip_archive, filename="a.zip", content_type="application/zip"),
        _one("zip_then_jpeg", "not_an_image", lambda: zip_archive() + portrait_jpeg()),
        _one(
            "json_document", "not_an_image", lambda: b'{"file": "photo.jpg", "face_index": 0}', content_type="text/json"
        ),
        _one("random_bytes", "not_an_image", lambda: random.Random(7).randbytes(4096), filename="r.bin"),
    ]


def bomb_cases() -> list[Case]:
    """Small files that declare huge pixel counts: each must be refused from its header, before any decoding."""
    return [
        _one(
            "png_declares_100000x100000", "too_many_pixels", lambda: png_declaring(100_000, 100_000), filename="b.png"
        ),
        _one("png_zlib_bomb_8000x8000", "too_many_pixels", lambda: png_zlib_bomb(8000), filename="b.png"),
        _one("png_just_over_pixel_limit", "too_many_pixels", lambda: png_declaring(2001, 2000), filename="b.png"),
        _one(
            "gif_screen_65535x65535", "too_many_pixels", lambda: gif_declaring((65535, 65535), (1, 1)), filename="b.gif"
        ),
        _one(
            "gif_frame_65535x65535",
            "too_many_pixels",
            lambda: gif_declaring((100, 100), (65535, 65535)),
            filename="b.gif",
        ),
        _one("jpeg_declares_65500x65500", "too_many_pixels", lambda: jpeg_declaring(65500, 65500)),
        _one("webp_declares_16384x16384", "too_many_pixels", lambda: webp_declaring(16384, 16384), filename="b.webp"),
        _one(
            "tiff_declares_100000x100000", "too_many_pixels", lambda: tiff_declaring(100_000, 100_000), filename="b.tif"
        ),
        _one("bmp_declares_60000x60000", "too_many_pixels", lambda: bmp_declaring(60_000, 60_000), filename="b.bmp"),
    ]


def _sizes() -> list[Case]:
    return [
        _one(
            "over_upload_limit", "upload_too_large", lambda: b"\xff\xd8" + bytes(int(MAX_UPLOAD_MB * 1024 * 1024) + 1)
        ),
        _one("one_by_one", "image_too_small", lambda: encode(Image.new("RGB", (1, 1)), "PNG")),
        _one("63x500", "image_too_small", lambda: encode(Image.new("RGB", (63, 500), "grey"), "PNG")),
        _one("100000x10", "image_too_small", lambda: encode(Image.new("L", (100_000, 10)), "PNG")),
        _one("64x64_blank", "no_face", lambda: encode(Image.new("RGB", (64, 64), "grey"), "PNG")),
    ]


def _modes_and_containers() -> list[Case]:
    face = portrait()

    def grey16() -> bytes:
        return encode(Image.fromarray(np.asarray(face.convert("L"), dtype=np.uint16) * 257), "PNG")  # full range

    def animated() -> bytes:  # frames 2 and 3 have no face: a face found proves frame 1 was used
        blank = [Image.new("RGB", face.size), Image.new("RGB", face.size, "white")]
        return encode(face, "GIF", save_all=True, append_images=blank, duration=100)

    return [
        _one(
            "png_named_jpg_sent_as_gif", OK, lambda: encode(face, "PNG"), filename="photo.jpg", content_type="image/gif"
        ),
        _one("jpeg_named_exe", OK, portrait_jpeg, filename="setup.exe", content_type="application/x-msdownload"),
        _one("jpeg_plus_zip_polyglot", OK, lambda: portrait_jpeg() + zip_archive()),
        _one("gifar_gif_plus_jar", OK, lambda: encode(face, "GIF") + zip_archive(), filename="a.gif"),
        _one("cmyk_jpeg", OK, lambda: encode(face.convert("CMYK"), "JPEG", quality=92)),
        _one("png_16bit_grey", OK, grey16, filename="g.png"),
        _one(
            "png_palette_transparency",
            OK,
            lambda: encode(face.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0),
            filename="p.png",
        ),
        _one("png_la", OK, lambda: encode(face.convert("LA"), "PNG"), filename="la.png"),
        _one("png_rgba", OK, lambda: encode(face.convert("RGBA"), "PNG"), filename="rgba.png"),
        _one("png_1bit", {OK, "no_face"}, lambda: encode(face.convert("1"), "PNG"), filename="1.png"),
        _one("gif_animated_first_frame_used", OK, animated, faces_at_least(1), filename="a.gif"),
        _one("webp_lossy", OK, lambda: encode(face, "WEBP", quality=85), filename="a.webp"),
        _one("tiff_lzw", OK, lambda: encode(face, "TIFF", compression="tiff_lzw"), filename="a.tif"),
        _one("bmp", OK, lambda: encode(face, "BMP"), filename="a.bmp"),
    ]


def _metadata_cases() -> list[Case]:
    jpeg = portrait_jpeg()
    garbage = random.Random(1).randbytes(2000)
    big_exif = Image.Exif()
    big_exif[0x010E] = "x" * 60_000  # ImageDescription: a ~60 KB EXIF segment, near the 64 KB segment limit
    icc = b"\x00\x00\x08\x00appl\x02\x10\x00\x00mntrRGB XYZ " + random.Random(2).randbytes(500_000)
    cases = [_one(f"exif_orientation_{o}", OK, partial(exif_rotated, o), upright(o)) for o in STORED_AS]
    return [
        *cases,
        _one("exif_app1_garbage", OK, lambda: with_app_segment(jpeg, 0xE1, b"Exif\x00\x00" + garbage)),
        _one("exif_bad_tiff_header", OK, lambda: with_app_segment(jpeg, 0xE1, b"Exif\x00\x00MM\x00*\xff\xff\xff\xff")),
        _one("exif_60kb", OK, lambda: encode(portrait(), "JPEG", exif=big_exif, quality=90)),
        _one("icc_500kb_garbage", OK, lambda: encode(portrait(), "JPEG", icc_profile=icc, quality=90), has_icc),
    ]


def _content_cases() -> list[Case]:
    face = portrait()
    x, y, w, _ = (223, 68, 138, 196)  # the detector's box on the portrait
    small = face.resize((face.width // 3, face.height // 3))
    tiled = Image.new("RGB", (small.width * 3, small.height * 3))
    for i in range(9):
        tiled.paste(small, ((i % 3) * small.width, (i // 3) * small.height))
    sky_and_field = Image.linear_gradient("L").resize((600, 400)).convert("RGB")
    return [
        _one("landscape_no_face", "no_face", lambda: encode(sky_and_field)),
        _one("all_black", "no_face", lambda: encode(Image.new("RGB", (400, 300)))),
        _one("all_white", "no_face", lambda: encode(Image.new("RGB", (400, 300), "white"))),
        _one("tiled_3x3_faces", OK, lambda: encode(tiled), faces_at_least(5)),
        _one("group_photo", OK, lambda: fixture_path("group_01.jpg").read_bytes(), faces_at_least(2)),
        _one(
            "face_cut_by_left_border",
            OK,
            lambda: encode(face.crop((x + w // 2, 0, *face.size))),
            quality_flag("face_cut_by_border"),
        ),
        _one(
            "face_cut_by_top_border",
            OK,
            lambda: encode(face.crop((0, y + 80, *face.size))),
            quality_flag("face_cut_by_border"),
        ),
        _one("rotated_90_degrees", {OK, "no_face"}, lambda: encode(face.rotate(90, expand=True))),
    ]


def _multipart_abuse() -> list[Case]:
    jpeg = portrait_jpeg()
    boundary = {"content-type": "multipart/form-data; boundary=hostileBoundary"}
    return [
        Case("missing_file_field", lambda: {"data": {"photo": "nope"}}, frozenset({"invalid_request"})),
        Case(
            "two_file_fields_last_wins",
            lambda: {"files": [("file", ("a.txt", b"not me", "text/plain")), ("file", ("b.jpg", jpeg, "image/jpeg"))]},
            frozenset({OK}),
        ),
        Case(
            "huge_text_field_3mb",
            lambda: {**upload(jpeg), "data": {"note": "x" * 3_000_000}},
            frozenset({"malformed_request"}),
        ),
        Case(
            "file_part_without_filename",
            lambda: {"content": multipart([("file", None, jpeg)]), "headers": boundary},
            frozenset({"invalid_request"}),
        ),
        Case(
            "wrong_multipart_boundary",
            lambda: {
                "content": multipart([("file", "a.jpg", jpeg)]),
                "headers": {"content-type": "multipart/form-data; boundary=somethingElse"},
            },
            frozenset({"malformed_request"}),
        ),
        Case(
            "multipart_without_boundary",
            lambda: {
                "content": multipart([("file", "a.jpg", jpeg)]),
                "headers": {"content-type": "multipart/form-data"},
            },
            frozenset({"malformed_request"}),
        ),
        Case(
            "multipart_cut_mid_file",
            lambda: {"content": multipart([("file", "a.jpg", jpeg)])[:5000], "headers": boundary},
            frozenset({"invalid_request"}),
        ),
        Case("json_body", lambda: {"json": {"file": "photo.jpg"}}, frozenset({"invalid_request"})),
        Case(
            "raw_jpeg_body",
            lambda: {"content": jpeg, "headers": {"content-type": "image/jpeg"}},
            frozenset({"invalid_request"}),
        ),
        Case("empty_body", lambda: {"content": b""}, frozenset({"invalid_request"})),
        Case(
            "1200_form_fields",
            lambda: {**upload(jpeg), "data": {f"f{i}": "x" for i in range(1200)}},
            frozenset({"malformed_request"}),
        ),
    ]


def build_corpus() -> list[Case]:
    """Every case, in a stable order (names are unique: they become the test ids)."""
    cases = [
        *_truncated_and_garbage(),
        *bomb_cases(),
        *_sizes(),
        *_modes_and_containers(),
        *_metadata_cases(),
        *_content_cases(),
        *_multipart_abuse(),
    ]
    assert len({c.name for c in cases}) == len(cases), "duplicate case names"
    return cases
