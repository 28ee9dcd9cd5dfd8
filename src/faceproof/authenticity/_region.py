"""Shared helpers of the pixel signals (frequency, noise, recapture): face crops and score mappings.

Why a scale-normalised crop: the development set pairs small, resampled generated faces with large real
photos, so any statistic of the *whole* image at its *stored* size partly measures image size and compression
history. The signals therefore look at the face region, and either resample it so that the face box has a
fixed size (statistics that depend on scale: spectra, noise levels) or keep it at native resolution and use
only ratios that do not depend on scale (periodicity of pixel relations, spectral peak contrast).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

MESH_POINTS = 468  # the MediaPipe face mesh without the 10 iris points
CHIN = 152  # mesh index of the chin
FOREHEAD_TOP = 10  # mesh index of the top of the forehead
MIN_FACE_PX = 24


def box_ok(rgb: np.ndarray, face_box: tuple[float, float, float, float]) -> bool:
    """True for an (H, W, 3) uint8 image and a finite, non-trivial face box that overlaps it."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return False
    if len(face_box) != 4 or not all(math.isfinite(float(v)) for v in face_box):
        return False
    x, y, w, h = (float(v) for v in face_box)
    height, width = rgb.shape[:2]
    return min(w, h) >= MIN_FACE_PX and x < width and y < height and x + w > 0 and y + h > 0


def square_box(face_box: tuple[float, float, float, float], expand: float) -> tuple[int, int, int]:
    """The square (x0, y0, side) centred on the face box, ``expand`` times its longer side."""
    x, y, w, h = (float(v) for v in face_box)
    side = max(8, round(max(w, h) * expand))
    cx, cy = x + w / 2.0, y + h / 2.0
    return round(cx - side / 2.0), round(cy - side / 2.0), side


def native_crop(
    rgb: np.ndarray, face_box: tuple[float, float, float, float], expand: float, align: int = 1
) -> np.ndarray:
    """The square face crop at native resolution, clipped to the image (never padded, never resampled).

    ``align``: the crop's origin is moved down to a multiple of it, so a JPEG 8x8 block grid (anchored at the
    image origin) keeps a known phase inside the crop.
    """
    x0, y0, side = square_box(face_box, expand)
    height, width = rgb.shape[:2]
    xa, ya = crop_origin(face_box, expand, align)
    xb, yb = min(width, x0 + side), min(height, y0 + side)
    return rgb[ya:yb, xa:xb]


def crop_origin(face_box: tuple[float, float, float, float], expand: float, align: int = 1) -> tuple[int, int]:
    """Where :func:`native_crop` starts in the image: its top-left corner (x, y) in pixels."""
    x0, y0, _ = square_box(face_box, expand)
    return max(0, x0) // align * align, max(0, y0) // align * align


def normalised_crop(
    rgb: np.ndarray, face_box: tuple[float, float, float, float], expand: float, face_px: int
) -> tuple[np.ndarray, float]:
    """The square face crop resampled so the face box's longer side is ``face_px`` pixels.

    Returns the crop (side ``round(face_px * expand)``, borders reflected where the square leaves the image)
    and the scale factor applied (> 1 means the face was upsampled, which hides fine detail: lower the
    confidence).
    """
    x0, y0, side = square_box(face_box, expand)
    height, width = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    src = rgb
    if pad:
        src = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        x0, y0 = x0 + pad, y0 + pad
    crop = src[y0 : y0 + side, x0 : x0 + side]
    out_side = round(face_px * expand)
    scale = out_side / side
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    return cv2.resize(crop, (out_side, out_side), interpolation=interp), scale


def grey(rgb: np.ndarray) -> np.ndarray:
    """Luma (BT.601) as float32 in 0..255."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) if rgb.size else np.zeros((0, 0), np.float32)


def size_confidence(face_side: float, full_at: float = 128.0) -> float:
    """How much a face of ``face_side`` native pixels lets a pixel statistic see (0 at 24 px, 1 from
    ``full_at``).
    """
    return float(np.clip((face_side - MIN_FACE_PX) / (full_at - MIN_FACE_PX), 0.0, 1.0))


def logistic(value: float, centre: float, width: float) -> float:
    """Monotone map of a feature to 0..1: 0.5 at ``centre``, 0.73 at ``centre + width`` (width may be
    negative).
    """
    z = (value - centre) / width
    return float(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))))
