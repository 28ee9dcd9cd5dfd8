"""Recapture: a camera photo of a print or of a screen showing the face (a presentation attack).

Why: re-photographing a display or a print superimposes a second, man-made sampling grid on the picture. The
screen's sub-pixel grid or the printer's half-tone screen beats with the camera's pixel grid and leaves moire:
strong, *isolated* peaks in the mid/high-frequency spectrum that natural scenes do not have (natural spectra
fall smoothly with frequency). Screens also add a colour-fringed grid (visible in the chroma spectrum), a
raised black level / reduced contrast, and specular glare on glossy surfaces.

The spectrum is taken at native resolution on a window around the face (resampling would smear the grid), and
peaks are measured against their 2-D neighbourhood, so the statistic is a contrast and does not depend on
image size. JPEG's 8x8 block grid also makes isolated peaks at multiples of N/8: those bins are masked out, so
heavy compression of a real photo is not mistaken for a half-tone.

A screen's or a printer's grid covers the *whole* picture, while a real scene's periodic or sharp-edged things
are local: a face mask over the lower face, a striped shirt, a patterned scarf. So the peaks are measured
separately in the upper and the lower half of the window and the weaker half counts. (Measured on the 64 dev
photos with a synthetic mask: the whole-window peak reached the replay threshold on 23 % of them, the weaker
half on none; simulated replays keep a weaker-half contrast of 2.3 or more.)

Features:
- ``recap_peak``: mean log10 contrast of the 5 strongest luma peaks (0.08..0.5 of the sampling rate), the
  smaller of the window's upper and lower half.
- ``recap_chroma_peak``: the same on the chroma residual (R - G and B - G together).
- ``recap_black``: 1st percentile of the crop's luma / 255 (screens and prints cannot show deep black).
- ``recap_glare``: fraction of the face box that is near-white and unsaturated (specular glare), in 0..1.

``make_recapture_variants`` simulates screen replays and prints from a real photo; it is what the measurements
and tests use, as there are no real recaptures in the development data.
"""

from __future__ import annotations

import functools
import logging

import cv2
import numpy as np

from faceproof.authenticity._region import box_ok, crop_origin, grey, logistic, native_crop, size_confidence
from faceproof.authenticity.base import Finding, SignalInput

log = logging.getLogger(__name__)

# Returned (with confidence 0) when the face region cannot be analysed: about the median of real photos, so
# a fusion model reads them as "no evidence".
NEUTRAL: dict[str, float] = {
    "recap_peak": 1.13,
    "recap_chroma_peak": 0.93,
    "recap_black": 0.04,
    "recap_glare": 0.0,
}
FEATURES = tuple(NEUTRAL)
SIGNAL = "recapture"
EXPAND = 1.6
NATIVE_MAX = 384
_F_MIN, _F_MAX = 0.08, 0.5
# Score mapping (see docs/authenticity.md): 0.5 at a peak contrast of 1.4; real or generated images measured
# (clean, augmented, masked, low-resolution) stay below about 1.3, simulated replays are 2.2-3.2 clean.
_SCORE_CENTRE = 1.4
_SCORE_WIDTH = 0.08


def analyze(inp: SignalInput) -> Finding:
    """Recapture features of the face region and a 0..1 score of print/screen evidence."""
    try:
        if not box_ok(inp.rgb, inp.face_box):
            return _empty("no usable face region for the recapture analysis")
        features = recapture_features(inp.rgb, inp.face_box)
    except (ValueError, cv2.error, FloatingPointError) as exc:
        log.debug("recapture analysis failed: %s", exc)
        return _empty("recapture analysis failed on this image")
    peak = max(features["recap_peak"], features["recap_chroma_peak"])
    score = logistic(peak, _SCORE_CENTRE, _SCORE_WIDTH)
    confidence = size_confidence(max(inp.face_box[2], inp.face_box[3]))
    what = "moire / half-tone peaks" if score >= 0.5 else "no moire or half-tone peaks"
    return Finding(
        signal=SIGNAL,
        score=score,
        confidence=confidence,
        kind="recaptured",
        message=f"{what} around the face (peak contrast {peak:.2f})",
        features=features,
    )


def recapture_features(rgb: np.ndarray, face_box: tuple[float, float, float, float]) -> dict[str, float]:
    """The four recapture features (see the module docstring) of the face in ``rgb``."""
    crop, _ = _window(rgb, face_box)
    x, y, w, h = (round(v) for v in face_box)
    face = rgb[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)]
    r, g, b = face[:, :, 0], face[:, :, 1], face[:, :, 2]
    # Channel by channel: numpy's max over a last axis of 3 took 10 ms on a 450 px face, this 0.3 ms.
    hi = np.maximum(np.maximum(r, g), b).astype(np.float32)
    lo = np.minimum(np.minimum(r, g), b).astype(np.float32)
    glare = (hi > 245) & (hi - lo < 0.15 * hi)
    halves = [_peaks(window) for window, _ in _halves(crop)]
    return {
        "recap_peak": min(luma for luma, _ in halves),
        "recap_chroma_peak": min(chroma for _, chroma in halves),
        "recap_black": float(np.percentile(grey(crop), 1) / 255.0),
        "recap_glare": float(glare.mean()) if glare.size else 0.0,
    }


def spectrum(
    rgb: np.ndarray, face_box: tuple[float, float, float, float]
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """What ``recap_peak`` read, as a picture: the log10 contrast of every bin of the luma spectrum (DC at the
    centre) of the window half whose peaks were weaker - the half the feature counts - against its neighbourhood,
    0 outside the band the peaks are sought in; and that half's place in the image (x, y, width, height)."""
    crop, (x0, y0) = _window(rgb, face_box)
    window, top = min(_halves(crop), key=lambda half: _peak_strength(_log_power(grey(half[0]))))
    contrast, band = _contrast(_log_power(grey(window)))
    return np.where(band, contrast, 0.0).astype(np.float32), (x0, y0 + top, window.shape[1], window.shape[0])


def _window(rgb: np.ndarray, face_box: tuple[float, float, float, float]) -> tuple[np.ndarray, tuple[int, int]]:
    """The native-resolution window about the face that the features read (at most ``NATIVE_MAX`` a side, sides
    multiples of 8), and its top-left corner (x, y) in the image."""
    crop = native_crop(rgb, face_box, EXPAND)
    h, w = (min(s, NATIVE_MAX) // 8 * 8 for s in crop.shape[:2])
    if min(h, w) < 32:
        raise ValueError("face window too small")
    top, left = (crop.shape[0] - h) // 2, (crop.shape[1] - w) // 2
    x0, y0 = crop_origin(face_box, EXPAND)
    return crop[top : top + h, left : left + w], (x0 + left, y0 + top)


def _halves(window: np.ndarray) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]:
    """The window's upper and lower half, each with its top row in the window; their height is a multiple of 8,
    so each stays on the JPEG grid."""
    half = window.shape[0] // 16 * 8
    return (window[:half], 0), (window[-half:], window.shape[0] - half)


def _peaks(window: np.ndarray) -> tuple[float, float]:
    """(luma, chroma) peak strength of one RGB window."""
    f = window.astype(np.float32)
    chroma_r, chroma_b = f[:, :, 0] - f[:, :, 1], f[:, :, 2] - f[:, :, 1]
    return (
        _peak_strength(_log_power(grey(window))),
        _peak_strength(np.logaddexp(_log_power(chroma_r), _log_power(chroma_b))),
    )


def _log_power(channel: np.ndarray) -> np.ndarray:
    """Natural-log power spectrum of a high-pass residual, Hann-windowed, DC-centred."""
    residual = channel - cv2.GaussianBlur(channel, (0, 0), 2.0)
    return np.log(np.abs(np.fft.fftshift(np.fft.fft2(residual * _hann(*channel.shape)))) ** 2 + 1e-6)


@functools.lru_cache(maxsize=16)
def _hann(h: int, w: int) -> np.ndarray:
    """The 2-D Hann window of an ``h`` x ``w`` spectrum (one per window shape; read-only)."""
    win = np.outer(np.hanning(h), np.hanning(w))
    win.flags.writeable = False
    return win


def _peak_strength(logp: np.ndarray) -> float:
    """Mean log10 contrast of the 5 strongest isolated peaks in the band (JPEG grid and axes aside)."""
    contrast, band = _contrast(logp)
    values = contrast[band]
    if values.size < 5:
        return 0.0
    # Spectra of real images are symmetric, so each peak appears twice; the top 10 bins hold 5 distinct peaks
    # (selected, then sorted: the same ten numbers summed in the same order as sorting them all).
    top = min(10, values.size)
    return float(np.mean(np.sort(np.partition(values, -top)[-top:])))


def _contrast(logp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The log10 contrast of every bin of a log power spectrum against its 9x9 neighbourhood, and the band in which
    peaks are sought (0.08..0.5 of the sampling rate, JPEG grid and axes aside)."""
    background = cv2.blur(logp.astype(np.float32), (9, 9), borderType=cv2.BORDER_REFLECT_101)
    return (logp - background) / np.log(10.0), _band(*logp.shape)


@functools.lru_cache(maxsize=16)
def _band(h: int, w: int) -> np.ndarray:
    """The bins of an ``h`` x ``w`` DC-centred spectrum in which peaks are sought (one per window shape;
    read-only)."""
    fy = (np.arange(h) - h // 2)[:, None] / h
    fx = (np.arange(w) - w // 2)[None, :] / w
    radius = np.hypot(fy, fx)
    band = (radius >= _F_MIN) & (radius <= _F_MAX)
    # JPEG 8x8 harmonics sit on multiples of 1/8 in both directions; the axes carry edge energy, not peaks.
    on_grid_y = np.abs(fy * 8 - np.round(fy * 8)) * h / 8 <= 1.0
    on_grid_x = np.abs(fx * 8 - np.round(fx * 8)) * w / 8 <= 1.0
    band &= ~(on_grid_y & on_grid_x)
    band &= (np.abs(fy) * h > 1.5) & (np.abs(fx) * w > 1.5)
    band.flags.writeable = False
    return band


def make_recapture_variants(rgb: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Simulated recaptures of ``rgb``: ``{"screen": ..., "print": ...}`` (uint8 RGB, same size as the input).

    Screen replay: the picture is shown on an RGB-stripe sub-pixel grid (3 sub-pixels per screen pixel, dark
    gaps), photographed at a slightly different scale and angle (the two grids beat into moire), with the
    display's gamma and narrower gamut, raised black level, lens blur and sensor noise. Print: CMY half-tone
    dots on screens at 15/75/0 degrees, paper texture, then the same kind of re-photograph. Randomised per
    ``seed``.
    """
    rng = np.random.default_rng(seed)
    return {"screen": _simulate_screen(rgb, rng), "print": _simulate_print(rgb, rng)}


def _rephotograph(
    img: np.ndarray, size: tuple[int, int], rng: np.random.Generator, blur: tuple[float, float]
) -> np.ndarray:
    """Camera looking at ``img`` (float 0..1 RGB): small rotation, resample to ``size``, lens blur, noise."""
    h, w = img.shape[:2]
    angle = rng.uniform(-4.0, 4.0)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, rng.uniform(1.02, 1.08))
    img = cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*blur))
    img = img + rng.normal(0.0, rng.uniform(0.005, 0.015), img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _simulate_screen(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    img = rgb.astype(np.float32) / 255.0
    # Display: gamut narrowed towards grey, gamma changed, black level raised.
    grey_level = img.mean(axis=2, keepdims=True)
    img = grey_level + rng.uniform(0.75, 0.9) * (img - grey_level)
    img = rng.uniform(0.03, 0.08) + rng.uniform(0.85, 0.95) * img ** rng.uniform(0.8, 1.2)
    # Sub-pixel grid: each screen pixel becomes 3 columns (R, G, B) and a dark row gap; the camera sees the
    # screen at a pixel pitch of 1.1-1.6 camera pixels per screen pixel, so the grid aliases into moire.
    pitch = rng.uniform(1.1, 1.6)
    screen_w, screen_h = max(8, round(w / pitch)), max(8, round(h / pitch))
    small = cv2.resize(img, (screen_w, screen_h), interpolation=cv2.INTER_AREA)
    sub = np.zeros((screen_h * 3, screen_w * 3, 3), np.float32)
    for c in range(3):
        sub[:, c::3, c] = np.repeat(small[:, :, c], 3, axis=0)
    sub[2::3] *= 0.35
    return _rephotograph(sub * 3.2, (w, h), rng, (0.6, 1.1))


def _simulate_print(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = 3
    big = cv2.resize(rgb, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    cmy = 1.0 - big
    period = rng.uniform(4.0, 7.0) * scale / 2.0
    yy, xx = np.indices(cmy.shape[:2], dtype=np.float32)
    printed = np.ones_like(big)
    for c, angle in enumerate((15.0, 75.0, 0.0)):
        t = np.deg2rad(angle + rng.uniform(-3.0, 3.0))
        u = (xx * np.cos(t) + yy * np.sin(t)) / period
        v = (-xx * np.sin(t) + yy * np.cos(t)) / period
        # Dot profile in [0, 1]: ink where the local coverage exceeds it (clustered-dot screen).
        dot = 0.5 + 0.25 * (np.cos(2 * np.pi * u) + np.cos(2 * np.pi * v))
        ink = (cmy[:, :, c] > dot).astype(np.float32)
        printed[:, :, c] = 1.0 - 0.9 * ink
    paper = cv2.GaussianBlur(rng.normal(0.0, 0.04, (h * scale, w * scale)).astype(np.float32), (0, 0), 1.5)
    printed = np.clip(printed * (0.93 + paper[:, :, None]), 0.0, 1.0)
    printed = cv2.GaussianBlur(printed, (0, 0), 0.6 * scale / 2.0)
    return _rephotograph(printed, (w, h), rng, (0.4, 0.8))


def _empty(message: str) -> Finding:
    return Finding(signal=SIGNAL, score=0.0, confidence=0.0, kind="recaptured", message=message, features=dict(NEUTRAL))
