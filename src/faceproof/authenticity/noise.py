"""Sensor-noise residual of the face and its consistency with the rest of the image.

Why: a camera photo carries one noise process over the whole frame (photon + read noise, shaped by demosaicing
and compression). A face pasted from another image (a swap) usually brings a different noise level than its
new surroundings, and a generated face has a synthetic, spatially smoother "noise" with a different
distribution.

Two views:
- Consistency (scale-free): a block-wise noise estimate, sigma = median(|HH|) / 0.6745 of the first Haar
  diagonal band (Donoho's MAD estimator, as in ``skimage.restoration.estimate_sigma``), on blocks whose size
  follows the face size. The quiet quartile of the face blocks is compared with the quiet quartile of the
  background blocks (the quiet quartile, because texture inflates the estimate). Both come from the same image
  at the same scale, so image size and JPEG quality largely cancel.
- Residual shape on the scale-normalised face crop: residual = crop - median3(crop); its level, excess
  kurtosis and lag-1 spatial correlation.

Features:
- ``noise_face_bg``: log(sigma_face / sigma_background) (0 when consistent; 0 with no background to compare).
- ``noise_level``: log10 of the residual's mean absolute value on the normalised crop (its median is often 0:
  a 3x3 median frequently equals the centre pixel of an 8-bit image).
- ``noise_kurtosis``: log1p of the residual's excess kurtosis (clipped at 0).
- ``noise_corr``: mean lag-1 autocorrelation of the residual over rows and columns.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from faceproof.authenticity._region import box_ok, grey, logistic, normalised_crop, size_confidence
from faceproof.authenticity.base import Finding, SignalInput

log = logging.getLogger(__name__)

# Returned (with confidence 0) when the face region cannot be analysed: about the median of real photos, so
# a fusion model reads them as "no evidence".
NEUTRAL: dict[str, float] = {
    "noise_face_bg": 0.0,
    "noise_level": 0.3,
    "noise_kurtosis": 3.4,
    "noise_corr": 0.25,
}
FEATURES = tuple(NEUTRAL)
SIGNAL = "noise"
FACE_PX = 128
EXPAND = 1.0
MIN_BG_BLOCKS = 6
# Score mapping (see docs/authenticity.md): 0.5 at |noise_face_bg| = 1.2 (9 % of clean and 2 % of augmented
# real photos reach it: studio backdrops and retouched skin are legitimately quieter than their surroundings).
_SCORE_CENTRE = 1.2
_SCORE_WIDTH = 0.2


def analyze(inp: SignalInput) -> Finding:
    """Noise residual features and a 0..1 score of face/background noise inconsistency."""
    try:
        if not box_ok(inp.rgb, inp.face_box):
            return _empty("no usable face region for the noise analysis")
        features, bg_blocks = _features(inp.rgb, inp.face_box)
    except (ValueError, cv2.error, FloatingPointError) as exc:
        log.debug("noise analysis failed: %s", exc)
        return _empty("noise analysis failed on this image")
    inconsistency = abs(features["noise_face_bg"])
    score = logistic(inconsistency, _SCORE_CENTRE, _SCORE_WIDTH)
    confidence = size_confidence(max(inp.face_box[2], inp.face_box[3])) * min(1.0, bg_blocks / (4 * MIN_BG_BLOCKS))
    if bg_blocks < MIN_BG_BLOCKS:
        message = "too little background to compare the face's noise with"
    elif score >= 0.5:
        direction = "noisier" if features["noise_face_bg"] > 0 else "smoother"
        message = f"the face is {direction} than its surroundings (log ratio {features['noise_face_bg']:.2f})"
    else:
        message = f"face and background noise levels agree (log ratio {features['noise_face_bg']:.2f})"
    return Finding(
        signal=SIGNAL, score=score, confidence=confidence, kind="swapped", message=message, features=features
    )


def noise_features(rgb: np.ndarray, face_box: tuple[float, float, float, float]) -> dict[str, float]:
    """The four noise features (see the module docstring) of the face in ``rgb``."""
    return _features(rgb, face_box)[0]


def block_sigma(gray: np.ndarray, block: int) -> np.ndarray:
    """Noise sigma per ``block`` x ``block`` tile (MAD of the Haar HH band), shape (rows, cols)."""
    h, w = gray.shape[0] // block * block, gray.shape[1] // block * block
    g = gray[:h, :w]
    hh = (g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2.0
    half = block // 2
    tiles = np.abs(hh).reshape(h // block, half, w // block, half).transpose(0, 2, 1, 3)
    return np.median(tiles.reshape(h // block, w // block, -1), axis=2) / 0.6745


def _features(rgb: np.ndarray, face_box: tuple[float, float, float, float]) -> tuple[dict[str, float], int]:
    face_bg, bg_blocks = _face_background_ratio(grey(rgb), face_box)
    crop, _ = normalised_crop(rgb, face_box, EXPAND, FACE_PX)
    g = grey(crop)
    residual = (g - cv2.medianBlur(g, 3)).astype(np.float64)
    level = float(np.mean(np.abs(residual)))
    centred = residual - residual.mean()
    var = float(np.mean(centred**2))
    kurt = float(np.mean(centred**4) / var**2 - 3.0) if var > 1e-9 else 0.0
    corr = (_lag1(centred, 1) + _lag1(centred, 0)) / 2.0 if var > 1e-9 else 0.0
    features = {
        "noise_face_bg": face_bg,
        "noise_level": float(np.log10(level + 0.05)),
        "noise_kurtosis": float(np.log1p(max(kurt, 0.0))),
        "noise_corr": corr,
    }
    return features, bg_blocks


def _lag1(x: np.ndarray, axis: int) -> float:
    a = np.moveaxis(x, axis, 0)
    num = float(np.sum(a[1:] * a[:-1]))
    den = float(np.sum(a * a))
    return num / den if den > 0 else 0.0


def _face_background_ratio(gray: np.ndarray, face_box: tuple[float, float, float, float]) -> tuple[float, int]:
    """log(sigma_face / sigma_background) from the quiet quartiles of block estimates; the bg count."""
    x, y, w, h = (float(v) for v in face_box)
    block = int(np.clip(round(min(w, h) / 6 / 2) * 2, 8, 64))
    sig = block_sigma(gray, block)
    if sig.size == 0:
        return 0.0, 0
    rows, cols = np.indices(sig.shape)
    cy, cx = (rows + 0.5) * block, (cols + 0.5) * block
    inner = (np.abs(cx - (x + w / 2)) < 0.3 * w) & (np.abs(cy - (y + h / 2)) < 0.3 * h)
    outside = (np.abs(cx - (x + w / 2)) > 0.8 * w) | (np.abs(cy - (y + h / 2)) > 0.8 * h)
    # Blocks clipped flat by over/under-exposure carry no noise information.
    usable = sig > 0.05
    face, bg = sig[inner & usable], sig[outside & usable]
    if face.size < 2 or bg.size < MIN_BG_BLOCKS:
        return 0.0, int(bg.size)
    ratio = np.log((np.percentile(face, 25) + 0.1) / (np.percentile(bg, 25) + 0.1))
    return float(ratio), int(bg.size)


def _empty(message: str) -> Finding:
    return Finding(signal=SIGNAL, score=0.0, confidence=0.0, kind="swapped", message=message, features=dict(NEUTRAL))
