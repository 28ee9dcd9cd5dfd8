"""Image intake: every format decodes to upright 8-bit RGB, and every bad input gets its own error code."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from faceproof.errors import (
    EmptyUpload,
    ImageTooSmall,
    NotAnImage,
    TooManyPixels,
    TruncatedImage,
    UploadTooLarge,
)
from faceproof.intake import HEIF_SUPPORTED, IntakeLimits, decode_image, from_array
from tests.conftest import fixture_path


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(fixture_path("df01_02.jpg")).convert("RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_formats_decode_to_rgb8(photo: Image.Image, fmt: str) -> None:
    decoded = decode_image(_encode(photo, fmt))
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.shape == (photo.height, photo.width, 3)
    assert decoded.metadata.format == fmt
    if fmt in {"PNG", "BMP", "TIFF"}:  # lossless: identical pixels
        assert np.array_equal(decoded.rgb, np.asarray(photo))


@pytest.mark.skipif(not HEIF_SUPPORTED, reason="pillow-heif not installed")
def test_heic_decodes(photo: Image.Image) -> None:
    decoded = decode_image(_encode(photo, "HEIF"))
    assert decoded.rgb.shape == (photo.height, photo.width, 3)
    assert np.abs(decoded.rgb.astype(int) - np.asarray(photo).astype(int)).mean() < 8


def test_exif_orientation_is_applied(photo: Image.Image) -> None:
    # Store the pixels rotated and tag them "rotate 90 CW to display" (orientation 6): decoding must undo it.
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_encode(stored, "JPEG", exif=exif, quality=95))
    assert decoded.metadata.exif_orientation == 6
    assert decoded.rgb.shape == (photo.height, photo.width, 3)
    diff = np.abs(decoded.rgb.astype(int) - np.asarray(photo).astype(int)).mean()
    assert diff < 6


def test_cmyk_grey16_alpha_palette(photo: Image.Image) -> None:
    cmyk = decode_image(_encode(photo.convert("CMYK"), "JPEG"))
    assert cmyk.metadata.original_mode == "CMYK" and cmyk.rgb.shape[2] == 3
    grey16 = Image.fromarray((np.asarray(photo.convert("L"), dtype=np.uint16) * 200).astype(np.uint16))
    g = decode_image(_encode(grey16, "PNG"))
    assert g.rgb.dtype == np.uint8 and g.rgb.max() == 255 and g.rgb.min() < 40  # scaled by range, not clipped
    rgba = photo.convert("RGBA")
    rgba.putalpha(0)
    a = decode_image(_encode(rgba, "PNG"))
    assert (a.rgb == 255).all()  # fully transparent composited on white
    p = decode_image(_encode(photo.convert("P"), "PNG"))
    assert p.rgb.shape[2] == 3


def test_gif_first_frame(photo: Image.Image) -> None:
    small = photo.resize((120, 160))
    frames = [small, Image.new("RGB", small.size, (255, 0, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buf.getvalue())
    assert decoded.metadata.frames == 2
    assert decoded.rgb[..., 0].mean() < 250  # not the red second frame


def test_metadata_kept_for_provenance(photo: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><Iptc4xmpExt:DigitalSourceType>trained'
        b"</Iptc4xmpExt:DigitalSourceType></x:xmpmeta>"
    )
    data = _encode(photo, "JPEG", exif=exif, xmp=xmp)
    meta = decode_image(data).metadata
    assert meta.exif["Make"] == "Canon" and meta.exif["Model"] == "EOS 5D"
    assert "DigitalSourceType" in meta.xmp
    assert meta.raw == data
    png = Image.new("RGB", (80, 80))
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a photo of a face, Steps: 20")
    assert decode_image(_encode(png, "PNG", pnginfo=info)).metadata.text_chunks["parameters"].startswith("a photo")


def test_rejections(photo: Image.Image, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EmptyUpload):
        decode_image(b"")
    with pytest.raises(NotAnImage):
        decode_image(b"hello, this is text, not a picture" * 10)
    with pytest.raises(NotAnImage):
        decode_image(b"%PDF-1.7\n" + b"0" * 200)
    jpeg = _encode(photo, "JPEG")
    with pytest.raises(TruncatedImage):
        decode_image(jpeg[: len(jpeg) // 2])
    with monkeypatch.context() as patched:  # as face_recognition leaves it, once imported anywhere in the process
        patched.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
        with pytest.raises(TruncatedImage):
            decode_image(jpeg[: len(jpeg) // 2])
    with pytest.raises(UploadTooLarge):
        decode_image(jpeg, IntakeLimits(max_bytes=1000))
    with pytest.raises(ImageTooSmall):
        decode_image(_encode(photo.resize((40, 60)), "PNG"))
    with pytest.raises(ImageTooSmall):
        from_array(np.zeros((32, 500, 3), np.uint8))


def test_decompression_bomb_rejected_from_header() -> None:
    # A tiny file that declares 30000 x 30000 pixels: rejected before any pixel is decoded.
    bomb = _encode(Image.new("1", (30000, 30000)), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(TooManyPixels) as info:
        decode_image(bomb)
    assert info.value.code == "too_many_pixels"
    with pytest.raises(TooManyPixels):
        decode_image(_encode(Image.new("RGB", (300, 300)), "PNG"), IntakeLimits(max_pixels=50_000))


def test_error_codes_are_stable() -> None:
    codes = {
        cls.code for cls in (EmptyUpload, NotAnImage, TruncatedImage, UploadTooLarge, TooManyPixels, ImageTooSmall)
    }
    assert codes == {
        "empty_upload",
        "not_an_image",
        "truncated_image",
        "upload_too_large",
        "too_many_pixels",
        "image_too_small",
    }
