"""Image intake: bytes in, a validated 8-bit RGB array plus the original metadata out.

Why one module: every entry point (API upload, CLI path, Python bytes/array) must reject the same bad inputs with
the same codes, and the authenticity stage needs the *original* metadata (EXIF, XMP, ICC, PNG text chunks, the raw
bytes for C2PA) that a plain ``cv2.imdecode`` would throw away.

Order of checks matters for safety: the byte size is checked before anything is parsed, and the pixel count is
read from the header before a single pixel is decoded (decompression bombs).
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from faceproof.errors import (
    EmptyUpload,
    ImageTooSmall,
    NotAnImage,
    TooManyPixels,
    TruncatedImage,
    UploadTooLarge,
)

log = logging.getLogger(__name__)

try:  # HEIC/AVIF: only because pillow-heif ships libheif inside its wheel (no system library needed).
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - the lock installs it
    HEIF_SUPPORTED = False

# We enforce our own (lower, configurable) pixel limit from the header; Pillow's global guard stays as a backstop.
SUPPORTED_FORMATS = frozenset(
    {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"} | ({"HEIF"} if HEIF_SUPPORTED else set())
)

#: What Pillow's format plugins raise on malformed bytes, besides the bomb errors. Beyond the documented OSError /
#: ValueError / SyntaxError, the hostile corpus and the fuzz tests found ``struct.error`` (a PNG chunk header cut
#: short), ``TypeError`` (a TIFF page without dimensions, raised while counting frames) and ``EOFError``;
#: ``KeyError`` / ``IndexError`` are listed for the same kind of short-buffer reads elsewhere in the plugins. Any of
#: them means "damaged file", a 400 for the client, never a 500.
MALFORMED_IMAGE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    TypeError,
    KeyError,
    IndexError,
    struct.error,
)

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MIN_SIDE = 64


@dataclass(frozen=True)
class ImageMetadata:
    """What the file said about itself, kept verbatim for provenance checks (never used for identity)."""

    format: str
    exif: dict[str, Any] = field(default_factory=dict)
    xmp: str = ""
    icc_profile: bytes = b""
    text_chunks: dict[str, str] = field(default_factory=dict)
    exif_orientation: int = 1
    original_mode: str = ""
    frames: int = 1
    raw: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class DecodedImage:
    """An upright 8-bit RGB image (H, W, 3) and its original metadata."""

    rgb: np.ndarray
    metadata: ImageMetadata

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


@dataclass(frozen=True)
class IntakeLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = DEFAULT_MIN_SIDE


def decode_image(data: bytes, limits: IntakeLimits | None = None) -> DecodedImage:
    """Validate and decode an uploaded file. Raises an :class:`~faceproof.errors.ImageError` subclass."""
    limits = limits or IntakeLimits()
    if not data:
        raise EmptyUpload("The upload is empty: send the image file's bytes.")
    if len(data) > limits.max_bytes:
        raise UploadTooLarge(
            f"The upload is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB.",
            size_bytes=len(data),
            limit_bytes=limits.max_bytes,
        )
    # Pillow's switch for accepting truncated files is process-wide, and libraries turn it on when imported
    # (face_recognition does, for every caller in the process): a half file must stay an error here.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, ValueError, SyntaxError) as exc:
            raise NotAnImage(
                f"The upload is not an image in a supported format ({', '.join(sorted(SUPPORTED_FORMATS))})."
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooManyPixels(f"The image declares too many pixels: {exc}") from exc
        except MALFORMED_IMAGE_ERRORS as exc:
            raise TruncatedImage(f"The image file is damaged or truncated: {exc}") from exc
        fmt = (img.format or "").upper()
        if fmt not in SUPPORTED_FORMATS:
            raise NotAnImage(f"Image format {fmt or 'unknown'} is not supported.", format=fmt)
        width, height = img.size
        if width * height > limits.max_pixels:
            raise TooManyPixels(
                f"The image is {width}x{height} = {width * height / 1e6:.1f} MP; the limit is "
                f"{limits.max_pixels / 1e6:.1f} MP.",
                width=width,
                height=height,
                limit_pixels=limits.max_pixels,
            )
        if min(width, height) < limits.min_side:
            raise ImageTooSmall(
                f"The image is {width}x{height}; both sides must be at least {limits.min_side} px.",
                width=width,
                height=height,
            )
        try:
            img.seek(0)  # GIF / multi-page TIFF / MPO: the first frame is the photo.
            # Pixels before metadata: PNG's getexif() loads the file, and a load failure swallowed there left a
            # half-loaded image whose text chunks then failed an assertion inside Pillow (found by fuzzing).
            img.load()
            # Still inside the guard: counting frames parses every TIFF page / GIF frame header.
            metadata = _read_metadata(img, fmt, data)
            upright = ImageOps.exif_transpose(img) if metadata.exif_orientation != 1 else img
            rgb = _to_rgb8(upright)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooManyPixels(f"The image declares too many pixels: {exc}") from exc
        except MALFORMED_IMAGE_ERRORS as exc:
            raise TruncatedImage(f"The image file is damaged or truncated: {exc}") from exc
    return DecodedImage(rgb=rgb, metadata=metadata)


def load_image(source: str | Path | bytes | np.ndarray, limits: IntakeLimits | None = None) -> DecodedImage:
    """Accept a path, raw bytes or an RGB ``uint8`` array (H, W, 3): the Python API's convenience front door."""
    if isinstance(source, np.ndarray):
        return from_array(source, limits)
    if isinstance(source, (str, Path)):
        return decode_image(Path(source).read_bytes(), limits)
    return decode_image(bytes(source), limits)


def from_array(rgb: np.ndarray, limits: IntakeLimits | None = None) -> DecodedImage:
    """Wrap an in-memory RGB array (no file, so no metadata). Greyscale and RGBA are converted like files."""
    limits = limits or IntakeLimits()
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise NotAnImage(f"Expected an (H, W, 3) RGB array, got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        raise NotAnImage(f"Expected a uint8 array, got {arr.dtype}.")
    h, w = arr.shape[:2]
    if h * w > limits.max_pixels:
        raise TooManyPixels(f"The array is {w}x{h}; the limit is {limits.max_pixels / 1e6:.1f} MP.")
    if min(h, w) < limits.min_side:
        raise ImageTooSmall(f"The array is {w}x{h}; both sides must be at least {limits.min_side} px.")
    if arr.shape[2] == 4:
        arr = _flatten_alpha(arr[:, :, :3], arr[:, :, 3])
    meta = ImageMetadata(format="ARRAY", original_mode="RGB")
    return DecodedImage(rgb=np.ascontiguousarray(arr), metadata=meta)


def _read_metadata(img: Image.Image, fmt: str, data: bytes) -> ImageMetadata:
    exif: dict[str, Any] = {}
    orientation = 1
    try:
        raw_exif = img.getexif()
        orientation = int(raw_exif.get(ExifTags.Base.Orientation, 1) or 1)
        items = dict(raw_exif.items())
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            try:
                items.update(raw_exif.get_ifd(ifd))
            except (KeyError, TypeError, ValueError):  # corrupt sub-IFD: keep what we have
                continue
        for tag, value in items.items():
            name = ExifTags.TAGS.get(tag) or ExifTags.GPSTAGS.get(tag) or str(tag)
            exif[name] = _plain(value)
    except Exception as exc:
        log.debug("unreadable EXIF ignored: %s", exc)
    if orientation not in range(1, 9):
        orientation = 1
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", errors="replace")
    text_chunks = (
        {
            str(k): str(v)[:65536]
            for k, v in getattr(img, "text", {}).items()
            if isinstance(v, (str, bytes)) and k not in {"XML:com.adobe.xmp"}
        }
        if fmt == "PNG"
        else {}
    )
    return ImageMetadata(
        format=fmt,
        exif=exif,
        xmp=xmp[:1_000_000],
        icc_profile=img.info.get("icc_profile") or b"",
        text_chunks=text_chunks,
        exif_orientation=orientation,
        original_mode=img.mode,
        frames=int(getattr(img, "n_frames", 1) or 1),
        raw=data,
    )


def _plain(value: Any) -> Any:
    """EXIF values as JSON-friendly Python values (rationals to float, bytes to short text)."""
    if isinstance(value, bytes):
        return value[:256].decode("latin-1", errors="replace").rstrip("\x00")
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (int, str)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """Convert every mode deliberately to 8-bit sRGB-ish RGB.

    - 16-bit / 32-bit grey (``I;16``, ``I``, ``F``): scaled by the actual range, not clipped at 255.
    - Alpha (RGBA, LA, PA, P with transparency): composited on white, as a viewer would show it.
    - CMYK / YCbCr / LAB / palette / 1-bit: Pillow's converters to RGB.
    """
    mode = img.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        grey = ((arr - lo) * scale).clip(0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"))
        return _flatten_alpha(rgba[:, :, :3], rgba[:, :, 3])
    if mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _flatten_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    out = rgb.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.ascontiguousarray(out.round().astype(np.uint8))
