"""Deterministic image damage of the kinds real photos suffer, for calibrating and testing on hard inputs.

Why: both recognizers separate the clean development pairs almost perfectly, so thresholds fitted on clean
pairs say nothing about a webcam frame, a heavily compressed chat image, a masked face or a face cut by the frame
border. Every function here is pure and seeded, ``(rgb, rng, face=None, **strength) -> rgb``: the same image,
generator state and arguments always give the same pixels, so a calibration run (and a test) can be repeated
exactly. Strength parameters left at ``None`` are drawn from ``rng`` within the documented range.

``face`` is a :class:`FaceHint` (box and 5 keypoints of the face in the *undamaged* image). The damage that
depends on the face (resolution relative to the face, crops through the face, a mask over the lower face) needs
it; the others use it only to scale their strength to the face size. The recognizers are then run on the damaged
image from scratch (detection included), as the service would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FaceHint:
    """Where the face is in the undamaged image: box (x, y, w, h) and YuNet's 5 keypoints, shape (5, 2).

    Keypoint order is YuNet's: right eye, left eye, nose tip, right mouth corner, left mouth corner (the
    subject's right is the image's left).
    """

    box: Box
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return float(self.box[2])


Degradation = Callable[[np.ndarray, np.random.Generator, FaceHint | None], np.ndarray]


def _face_width(rgb: np.ndarray, face: FaceHint | None) -> float:
    # Without a face, assume a portrait: the face is about 40 % of the shorter side.
    return face.width if face is not None else 0.4 * min(rgb.shape[:2])


def _u8(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))


def downscale(
    rgb: np.ndarray,
    rng: np.random.Generator,
    face: FaceHint | None = None,
    *,
    face_px: float | None = None,
    factor: float | None = None,
) -> np.ndarray:
    """Low resolution: shrink so the face is ``face_px`` (30-60) pixels wide, or by ``factor``, and scale back up.

    Back up to the original size because a low-resolution camera still delivers an image that the pipeline
    upsamples; what is lost is detail, not image size.
    """
    h, w = rgb.shape[:2]
    if factor is None:
        target = face_px if face_px is not None else rng.uniform(30.0, 60.0)
        factor = min(1.0, target / max(_face_width(rgb, face), 1.0))
    small = cv2.resize(rgb, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


def resize(
    rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None, *, face_px: float | None = None
) -> np.ndarray:
    """A downsized photo (a messaging app, a web page, a thumbnail): the whole image shrunk so the face is
    ``face_px`` (70-130) pixels wide and left at that size, then stored as JPEG 75-90 as such services do. Unlike
    ``lowres`` nothing is scaled back up: the photo is small but as sharp as its size allows."""
    target = face_px if face_px is not None else rng.uniform(70.0, 130.0)
    factor = min(1.0, target / max(_face_width(rgb, face), 1.0))
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA)
    return recompress(np.ascontiguousarray(small), rng, quality=int(rng.integers(75, 91)))


def gaussian_blur(
    rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None, *, sigma_rel: float | None = None
) -> np.ndarray:
    """Defocus: Gaussian blur with sigma = ``sigma_rel`` (1-3 %) of the face width."""
    rel = sigma_rel if sigma_rel is not None else rng.uniform(0.01, 0.03)
    sigma = max(0.5, rel * _face_width(rgb, face))
    return np.ascontiguousarray(cv2.GaussianBlur(rgb, (0, 0), sigma))


def motion_blur(
    rgb: np.ndarray,
    rng: np.random.Generator,
    face: FaceHint | None = None,
    *,
    length_rel: float | None = None,
    angle_deg: float | None = None,
) -> np.ndarray:
    """Camera shake: a line kernel ``length_rel`` (4-10 %) of the face width long, at a random angle."""
    rel = length_rel if length_rel is not None else rng.uniform(0.04, 0.10)
    angle = np.deg2rad(angle_deg if angle_deg is not None else rng.uniform(0.0, 180.0))
    length = max(3, round(rel * _face_width(rgb, face)))
    size = length | 1  # odd
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = np.cos(angle) * (length - 1) / 2, np.sin(angle) * (length - 1) / 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    kernel /= kernel.sum()
    return np.ascontiguousarray(cv2.filter2D(rgb, -1, kernel, borderType=cv2.BORDER_REFLECT))


def sensor_noise(
    rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None, *, sigma: float | None = None
) -> np.ndarray:
    """Sensor noise at the face's scale: Gaussian noise (sigma 8-25 of 255), luminance-heavy with some chroma.

    The noise is generated at a resolution where the face is ~112 px wide (what SFace sees) and upsampled, so a
    large photo is not let off lightly because the aligner averages fine-grained noise away.
    """
    s = sigma if sigma is not None else rng.uniform(8.0, 25.0)
    h, w = rgb.shape[:2]
    scale = min(1.0, 112.0 / max(_face_width(rgb, face), 1.0))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    luma = rng.normal(0.0, s, (nh, nw, 1))
    chroma = rng.normal(0.0, 0.35 * s, (nh, nw, 3))
    noise = (luma + chroma).astype(np.float32)
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_NEAREST)
    return _u8(rgb.astype(np.float32) + noise)


def jpeg(
    rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None, *, quality: int | None = None
) -> np.ndarray:
    """Heavy JPEG re-compression at ``quality`` 20-50 (4:2:0 chroma, as messaging apps do)."""
    q = int(quality if quality is not None else rng.integers(20, 51))
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB array
        raise ValueError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def border_crop(
    rgb: np.ndarray,
    rng: np.random.Generator,
    face: FaceHint | None = None,
    *,
    side: str | None = None,
    cut: float | None = None,
) -> np.ndarray:
    """Partial face at the image border: cut ``cut`` (15-35 %) of the face box off one ``side``.

    Sides: ``left``, ``right``, ``top``, ``bottom``. Without a face, the central half of the image stands in for
    the face box.
    """
    h, w = rgb.shape[:2]
    which = side if side is not None else str(rng.choice(["left", "right", "top", "bottom"]))
    frac = cut if cut is not None else rng.uniform(0.15, 0.35)
    x, y, bw, bh = face.box if face is not None else (w / 4, h / 4, w / 2, h / 2)
    if which == "left":
        x0 = int(np.clip(x + frac * bw, 0, w - 16))
        out = rgb[:, x0:]
    elif which == "right":
        x1 = int(np.clip(x + (1 - frac) * bw, 16, w))
        out = rgb[:, :x1]
    elif which == "top":
        y0 = int(np.clip(y + frac * bh, 0, h - 16))
        out = rgb[y0:]
    elif which == "bottom":
        y1 = int(np.clip(y + (1 - frac) * bh, 16, h))
        out = rgb[:y1]
    else:
        raise ValueError(f"unknown crop side {which!r}")
    return np.ascontiguousarray(out)


_MASK_COLOURS = ((150, 190, 220), (235, 235, 235), (30, 30, 35), (95, 125, 170), (200, 160, 170))


def face_mask(
    rgb: np.ndarray,
    rng: np.random.Generator,
    face: FaceHint | None = None,
    *,
    colour: tuple[int, int, int] | None = None,
    patterned: bool | None = None,
) -> np.ndarray:
    """A synthetic surgical/cloth mask: a filled polygon over the lower face, from just above the nose tip
    down past the chin and out to the cheeks, in a solid colour or with stripes.

    Needs ``face`` (the polygon is built from the 5 keypoints); shapes follow the eye line, so tilted faces get
    tilted masks.
    """
    if face is None:
        raise ValueError("face_mask needs the face's keypoints (a FaceHint)")
    kp = np.asarray(face.keypoints, dtype=np.float64)
    eyes_mid = (kp[0] + kp[1]) / 2
    mouth_mid = (kp[3] + kp[4]) / 2
    ex = kp[1] - kp[0]
    eye_dist = max(float(np.linalg.norm(ex)), 1.0)
    ux = ex / eye_dist  # along the eye line (towards the image right)
    down = mouth_mid - eyes_mid
    uy = down / max(float(np.linalg.norm(down)), 1.0)  # eyes → mouth
    nose = kp[2]
    top_c = eyes_mid + uy * (0.75 * float(np.dot(nose - eyes_mid, uy)))  # covers the lower nose
    chin_c = mouth_mid + uy * (0.9 * eye_dist)
    half = 1.25 * eye_dist
    poly = [
        top_c - ux * 0.55 * half,
        top_c + ux * 0.55 * half,
        top_c + ux * half + uy * 0.25 * eye_dist,
        mouth_mid + ux * 1.05 * half,
        chin_c + ux * 0.55 * half,
        chin_c + uy * 0.15 * eye_dist,
        chin_c - ux * 0.55 * half,
        mouth_mid - ux * 1.05 * half,
        top_c - ux * half + uy * 0.25 * eye_dist,
    ]
    pts = np.round(np.array(poly)).astype(np.int32).reshape(-1, 1, 2)
    col = colour if colour is not None else _MASK_COLOURS[int(rng.integers(len(_MASK_COLOURS)))]
    stripes = bool(rng.random() < 0.3) if patterned is None else patterned
    h, w = rgb.shape[:2]
    region = np.zeros((h, w), np.uint8)
    cv2.fillPoly(region, [pts], 1)
    fill = np.empty_like(rgb)
    fill[:] = col
    if stripes:
        period = max(4, round(eye_dist / 5))
        yy = np.arange(h)[:, None] + np.zeros((1, w), int)
        dark = (yy // period) % 2 == 1
        fill[dark] = (np.asarray(col) * 0.6).astype(np.uint8)
    # Keep some of the image's shading so the mask is lit like the face.
    shade = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    shaded = fill.astype(np.float32) * (0.75 + 0.35 * shade[:, :, None])
    out = rgb.copy()
    out[region == 1] = _u8(shaded)[region == 1]
    return out


def photometric(
    rgb: np.ndarray,
    rng: np.random.Generator,
    face: FaceHint | None = None,
    *,
    gamma: float | None = None,
    contrast: float | None = None,
    brightness: float | None = None,
) -> np.ndarray:
    """Exposure problems: gamma (0.45-2.2), contrast (x0.4-1.0 about mid-grey), brightness offset (-60..+60)."""
    g = gamma if gamma is not None else float(np.exp(rng.uniform(np.log(0.45), np.log(2.2))))
    c = contrast if contrast is not None else rng.uniform(0.4, 1.0)
    b = brightness if brightness is not None else rng.uniform(-60.0, 60.0)
    x = (rgb.astype(np.float32) / 255.0) ** g * 255.0
    return _u8((x - 128.0) * c + 128.0 + b)


#: Every single degradation by name. A calibration variant is one of these, or a combination (see ``combine``).
DEGRADATIONS: dict[str, Degradation] = {
    "lowres": downscale,
    "gaussian_blur": gaussian_blur,
    "motion_blur": motion_blur,
    "noise": sensor_noise,
    "jpeg": jpeg,
    "crop": border_crop,
    "mask": face_mask,
    "photometric": photometric,
    "resize": resize,
}

# The order in which damage happens to a real photo: things in front of the face, then the framing, then the
# optics and exposure, then the sensor, then compression; a service's downsizing (``resize``) comes last, since it
# changes the image's size and every step before it places damage by the face's position.
_PIPELINE_ORDER = (
    "mask",
    "crop",
    "lowres",
    "gaussian_blur",
    "motion_blur",
    "photometric",
    "noise",
    "jpeg",
    "resize",
)


def combine(
    names: Sequence[str], rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None
) -> np.ndarray:
    """Apply several degradations in physical order (mask → crop → optics → exposure → noise → JPEG).

    The face hint stays valid through every step because only ``crop`` moves pixels and it runs after ``mask``;
    the degradations after ``crop`` use the face only for its width.
    """
    unknown = set(names) - set(DEGRADATIONS)
    if unknown:
        raise ValueError(f"unknown degradation(s): {sorted(unknown)}; known: {sorted(DEGRADATIONS)}")
    out = rgb
    for name in sorted(set(names), key=_PIPELINE_ORDER.index):
        out = DEGRADATIONS[name](out, rng, face)
    return out


def degrade(rgb: np.ndarray, names: str | Sequence[str], seed: int, face: FaceHint | None = None) -> np.ndarray:
    """Damage ``rgb`` with one named degradation or a combination, reproducibly from ``seed``."""
    rng = np.random.default_rng(seed)
    return combine([names] if isinstance(names, str) else list(names), rgb, rng, face)


def grayscale(rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None) -> np.ndarray:
    """A monochrome photo (scanned, old, or a camera's B/W mode), kept as 3 equal channels."""
    return monochrome(rgb)


def monochrome(rgb: np.ndarray) -> np.ndarray:
    """``rgb``'s luminance as 3 equal channels: the shape every network here reads."""
    return np.ascontiguousarray(np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2))


def recompress(
    rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None, *, quality: int | None = None
) -> np.ndarray:
    """Ordinary JPEG storage at ``quality`` 60-95: what nearly every photo has been through once."""
    q = quality if quality is not None else int(rng.integers(60, 96))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    return np.ascontiguousarray(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)) if ok else rgb


#: Probability of each everyday damage in a training example (both classes alike, so that no damage is a label).
TRAINING_DAMAGE_P: dict[str, float] = {
    "mask": 0.08,
    "crop": 0.05,
    "lowres": 0.2,
    "gaussian_blur": 0.1,
    "motion_blur": 0.05,
    "photometric": 0.1,
    "noise": 0.12,
    "jpeg": 0.15,
}
GRAYSCALE_P = 0.08
RECOMPRESS_P = 0.6


def training_damage(rgb: np.ndarray, rng: np.random.Generator, face: FaceHint | None = None) -> np.ndarray:
    """The damage a training example gets: each everyday degradation with its own probability, in physical
    order, sometimes monochrome, and usually one ordinary JPEG round at the end, as photos arrive."""
    names = [name for name, p in TRAINING_DAMAGE_P.items() if rng.random() < p]
    out = combine(names, rgb, rng, face) if names else rgb
    if rng.random() < GRAYSCALE_P:
        out = grayscale(out, rng, face)
    if "jpeg" not in names and rng.random() < RECOMPRESS_P:
        out = recompress(out, rng, face)
    return out
