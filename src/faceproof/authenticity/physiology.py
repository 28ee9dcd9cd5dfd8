"""Physiological consistency of the eyes: corneal highlights, pupil shape and iris colour.

Why: a camera photo of a real person obeys optics and anatomy that image generators only imitate.

- Corneal specular highlights (Hu, Li & Lyu, "Exposing GAN-generated faces using inconsistent corneal specular
  highlights", ICASSP 2021): both corneas reflect the same light sources, so for a distant scene the highlight
  blobs sit at the same place relative to each iris. GAN faces often have mismatched highlights. Feature: IoU of
  the two highlight masks after aligning the iris crops by iris centre and radius.
- Pupil shape (Guo, Hu, Lyu et al., "Eyes tell all: irregular pupil shapes reveal GAN-generated faces", ICASSP
  2022): a real pupil is round (an ellipse once projected); GAN pupils are often irregular. Feature: boundary IoU
  between the segmented dark pupil and its fitted ellipse.
- Iris colour: the two irises of a person almost always have the same colour; generators sometimes disagree.
  Feature: CIE76 ΔE between the mean Lab colours of the two iris rings.

All three need an open eye whose iris is many pixels wide: the confidence is driven by the iris radius in pixels
(``MIN_IRIS_PX`` gives 0, ``FULL_IRIS_PX`` gives 1) and by eye openness. In the development set most irises are
4-12 px in radius, where these cues are weak (see docs/authenticity.md for the measured AUCs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from faceproof.authenticity._region import logistic
from faceproof.authenticity.base import Finding, SignalInput

log = logging.getLogger(__name__)

SIGNAL = "physiology"
# MediaPipe refined mesh: iris centre + 4 ring points per eye, eye contour, lid midpoints and corners.
IRISES = ((468, (469, 470, 471, 472)), (473, (474, 475, 476, 477)))
EYE_CONTOURS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398),
)
LIDS = ((159, 145, 33, 133), (386, 374, 362, 263))  # upper, lower, corner, corner
NORM_RADIUS = 16  # iris radius after resampling, px
MIN_IRIS_PX = 3.0
FULL_IRIS_PX = 10.0
MIN_OPENNESS = 0.15  # lid gap / eye width below which the eye counts as closed
HIGHLIGHT_CONTRAST = 40.0  # grey levels between the iris median and its brightest pixel for a highlight
NEUTRAL: dict[str, float] = {
    "phys_highlight_iou": 0.5,
    "phys_highlight_area_diff": 0.0,
    "phys_pupil_biou": 0.7,
    "phys_iris_delta_e": 8.0,
    "phys_iris_radius": 0.0,
    "phys_openness": 0.0,
}
FEATURES = tuple(NEUTRAL)


@dataclass(frozen=True)
class EyeCrop:
    """One eye resampled so its iris has radius ``NORM_RADIUS``, centred on the iris centre."""

    rgb: np.ndarray  # (S, S, 3) uint8
    visible: np.ndarray  # bool (S, S): inside the iris disc and between the lids
    radius_px: float  # native iris radius
    openness: float


def _eye_crop(rgb: np.ndarray, lm: np.ndarray, eye: int) -> EyeCrop:
    centre_idx, ring_idx = IRISES[eye]
    centre = lm[centre_idx, :2].astype(np.float64)
    radius = float(np.mean(np.linalg.norm(lm[list(ring_idx), :2] - centre, axis=1)))
    upper, lower, c0, c1 = (lm[i, :2] for i in LIDS[eye])
    openness = float(np.linalg.norm(upper - lower) / max(np.linalg.norm(c1 - c0), 1e-6))
    if radius < 1.0:
        raise ValueError("iris too small")
    side = 4 * NORM_RADIUS
    s = NORM_RADIUS / radius
    m = np.array([[s, 0.0, side / 2 - s * centre[0]], [0.0, s, side / 2 - s * centre[1]]])
    crop = cv2.warpAffine(rgb, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    contour = lm[list(EYE_CONTOURS[eye]), :2] @ m[:, :2].T + m[:, 2]
    lids = np.zeros((side, side), np.uint8)
    cv2.fillPoly(lids, [np.round(contour).astype(np.int32)], 1)
    disc = np.zeros((side, side), np.uint8)
    cv2.circle(disc, (side // 2, side // 2), NORM_RADIUS, 1, -1)
    return EyeCrop(crop, (lids & disc).astype(bool), radius, openness)


def _highlight(eye: EyeCrop) -> np.ndarray:
    """Specular highlight mask: pixels of the visible iris well above its median brightness."""
    g = cv2.cvtColor(eye.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    vals = g[eye.visible]
    if vals.size < 20:
        return np.zeros_like(eye.visible)
    med, peak = float(np.median(vals)), float(vals.max())
    if peak - med < HIGHLIGHT_CONTRAST:
        return np.zeros_like(eye.visible)
    return eye.visible & (g > med + 0.5 * (peak - med))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else float("nan")


def pupil_boundary_iou(eye: EyeCrop, band: int = 2) -> float:
    """Boundary IoU between the dark pupil blob and its fitted ellipse (nan when no pupil is found)."""
    g = cv2.cvtColor(eye.rgb, cv2.COLOR_RGB2GRAY)
    side = g.shape[0]
    inner = np.zeros_like(g)
    cv2.circle(inner, (side // 2, side // 2), int(0.75 * NORM_RADIUS), 1, -1)
    region = inner.astype(bool) & eye.visible
    vals = g[region]
    if vals.size < 30:
        return float("nan")
    thr, _ = cv2.threshold(vals.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = (region & (g <= thr)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark)
    if n < 2:
        return float("nan")
    blob = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    if len(contour) < 5 or cv2.contourArea(contour) < 6:
        return float("nan")
    ellipse = np.zeros_like(blob)
    cv2.ellipse(ellipse, cv2.fitEllipse(contour), 1, -1)
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)

    def boundary(mask: np.ndarray) -> np.ndarray:
        return mask.astype(bool) & ~cv2.erode(mask, kernel).astype(bool) & eye.visible

    return _iou(boundary(blob), boundary(ellipse))


def _ring_lab(eye: EyeCrop, highlight: np.ndarray) -> np.ndarray | None:
    side = eye.rgb.shape[0]
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(yy - side / 2, xx - side / 2) / NORM_RADIUS
    ring = eye.visible & (r > 0.45) & (r < 0.9) & ~highlight
    if np.count_nonzero(ring) < 10:
        return None
    lab = cv2.cvtColor(eye.rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab[ring].mean(axis=0)


def eye_features(rgb: np.ndarray, landmarks: np.ndarray) -> dict[str, float]:
    """The physiology features (NaN-free; neutral values where a cue could not be measured)."""
    eyes = [_eye_crop(rgb, landmarks, k) for k in (0, 1)]
    highlights = [_highlight(e) for e in eyes]
    out = dict(NEUTRAL)
    out["phys_iris_radius"] = min(e.radius_px for e in eyes)
    out["phys_openness"] = min(e.openness for e in eyes)
    iou = _iou(*highlights)
    if np.isfinite(iou):
        out["phys_highlight_iou"] = iou
        areas = [
            np.count_nonzero(h) / max(1, np.count_nonzero(e.visible)) for h, e in zip(highlights, eyes, strict=True)
        ]
        out["phys_highlight_area_diff"] = float(abs(areas[0] - areas[1]))
    bious = [b for b in (pupil_boundary_iou(e) for e in eyes) if np.isfinite(b)]
    if bious:
        out["phys_pupil_biou"] = float(min(bious))
    labs = [_ring_lab(e, h) for e, h in zip(eyes, highlights, strict=True)]
    if labs[0] is not None and labs[1] is not None:
        out["phys_iris_delta_e"] = float(np.linalg.norm(labs[0] - labs[1]))
    return out


def _empty(message: str, features: dict[str, float] | None = None) -> Finding:
    return Finding(
        signal=SIGNAL, score=0.0, confidence=0.0, kind="generated", message=message, features=features or dict(NEUTRAL)
    )


def analyze(inp: SignalInput) -> Finding:
    """Eye-physiology consistency; score high when highlights, pupils or iris colours disagree."""
    if inp.landmarks is None:
        return _empty("no face mesh: the eyes cannot be located")
    rgb, lm = inp.rgb, np.asarray(inp.landmarks, np.float64)
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return _empty("not an RGB image")
    if lm.ndim != 2 or lm.shape[0] < 478 or lm.shape[1] < 2 or not np.isfinite(lm[:, :2]).all():
        return _empty("the face mesh has no iris points")
    try:
        features = eye_features(rgb, lm)
    except (ValueError, cv2.error) as exc:
        log.debug("physiology analysis failed: %s", exc)
        return _empty("eye analysis failed on this face")
    size = float(np.clip((features["phys_iris_radius"] - MIN_IRIS_PX) / (FULL_IRIS_PX - MIN_IRIS_PX), 0.0, 1.0))
    openness = float(np.clip((features["phys_openness"] - MIN_OPENNESS) / MIN_OPENNESS, 0.0, 1.0))
    confidence = size * openness
    # Highlight IoU stays a feature only: on the dev set real photos disagree *more* than generated faces (see
    # docs/authenticity.md), so it must not raise the score by hand; the fusion model may weigh it.
    score = max(
        logistic(1.0 - features["phys_pupil_biou"], 0.9, 0.03),
        logistic(features["phys_iris_delta_e"], 20.0, 2.0),
    )
    if confidence == 0.0:
        message = "the eyes are too small or closed to check highlights, pupils and iris colour"
    elif score >= 0.5:
        message = "the eyes are physiologically inconsistent (highlights, pupil shape or iris colour)"
    else:
        message = "corneal highlights, pupil shape and iris colours are consistent"
    return Finding(
        signal=SIGNAL, score=score, confidence=confidence, kind="generated", message=message, features=features
    )
