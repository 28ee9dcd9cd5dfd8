"""Blending-boundary detector: is the face pasted into the photo through a face-shaped mask?

Why: every face swap (classic landmark swaps, DeepFaceLab, FaceSwap, most one-shot "swappers") ends with
compositing a synthesised inner face into the target frame through a blurred mask that roughly follows the
landmark hull. The composite leaves a seam: colour/illumination steps, a sharpness or noise mismatch between
the pasted face and the target's own skin, and faint double edges where the two images are misaligned. Face
X-ray (Li et al., CVPR 2020) showed that detecting this boundary generalises across swap methods; Self-Blended
Images (Shiohara & Yamasaki, CVPR 2022) showed that a detector can learn it from real photos alone, by blending
each photo with a slightly altered copy of itself (see :mod:`faceproof.training.manipulate`).

We have no GPU budget for their CNNs, so this is the same idea with hand-made features and a small linear model:

1. The face is resampled so that its height (forehead landmark 10 to chin 152) is ``FACE_PX`` pixels; any image
   size, and the dev set's size/compression confound, therefore looks the same to the features.
2. Six local maps are computed on that crop: Lab L, a, b (illumination and colour), log local noise
   (|I - median3(I)|), log gradient magnitude, and a sharpness ratio (fine / coarse band-pass energy).
3. Each map is sampled along ``N_RAYS`` rays from the face centre through the landmark hull, at radial positions
   ``RADII`` (fractions of the hull radius in that direction, 0.45 = deep inside the face, 1.15 = beyond the
   outline), giving a (map, ray, radius) tensor that follows the face however it is posed.
4. Features per map: the median radial profile (every ray centred on its own mean), the mean absolute step
   between neighbouring radii (a seam is a step), and the mean absolute difference between neighbouring rays at
   each radius (a seam is also an irregular ring).
5. A logistic regression (standardised inputs) trained by ``faceproof train blending``
   (:mod:`faceproof.training.fit_blending`) on SBI pseudo-fakes vs the untouched photos, both heavily degraded
   (downscale, blur, noise, JPEG 60-95), turns them into a probability. It ships as the model artefact
   ``blending_model`` (ONNX graph with the Platt calibration folded into its coefficients, plus a model card with
   the feature names and the operating threshold), read once, lazily and thread-safely. The finding's score is
   that probability re-centred on the threshold (``sigmoid(logit(p) - logit(threshold))``), so that it crosses 0.5
   where the detector flags, like every signal's; the probability itself is the fusion's feature ``blend_prob``.

It needs the face mesh: without landmarks the finding has confidence 0. It says nothing about fully generated
faces (there is no seam to find); that is the frequency and noise signals' job.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from faceproof.authenticity._region import CHIN, FOREHEAD_TOP, MESH_POINTS
from faceproof.authenticity.base import Finding, SignalInput
from faceproof.decision.wording import compared
from faceproof.models import artifact
from faceproof.models.lazy import Lazy

log = logging.getLogger(__name__)

SIGNAL = "blending"
ARTIFACT = "blending_model"
FEATURE_VERSION = 2
FACE_PX = 128  # face height (landmark 10 to 152) after resampling
CROP_PX = 320  # side of the resampled crop around the face centre
N_RAYS = 64
RADII = (0.45, 0.55, 0.65, 0.72, 0.79, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
MAPS = ("L", "a", "b", "noise", "grad", "sharp")
GRAD_MAPS = ("L", "a", "b", "noise", "sharp")
GRAD_SIGMA = 2.0
MIN_FACE_HEIGHT = 40.0  # native pixels; smaller faces carry little boundary detail
FULL_FACE_HEIGHT = 160.0  # native pixels at which the confidence reaches 1


def feature_names() -> tuple[str, ...]:
    """Names of the vector :func:`boundary_features` returns, in order."""
    names = [f"blend_{m}_prof{i}" for m in MAPS for i in range(len(RADII))]
    names += [f"blend_{m}_step{i}" for m in MAPS for i in range(len(RADII) - 1)]
    names += [f"blend_{m}_ring{i}" for m in MAPS for i in range(len(RADII))]
    names += [f"blend_{c}_radial{i}" for c in GRAD_MAPS for i in range(len(RADII))]
    return tuple(names)


@dataclass(frozen=True)
class BlendingModel:
    """The shipped detector: ``p = sigmoid(logit)``, where the artefact's graph computes the calibrated logit of a
    standardised logistic regression (Platt scaling, fitted on held-out identities, folded into its coefficients);
    ``threshold`` is the operating point on ``p``."""

    artifact: artifact.Artifact
    version: str
    threshold: float

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of a blend for each row of ``x`` (N, F)."""
        z = self.artifact.run({"x": np.atleast_2d(x).astype(np.float64)}, ["logit"])["logit"]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def _load() -> BlendingModel:
    model = artifact.load(ARTIFACT)
    p = model.parameters
    if p["feature_version"] != FEATURE_VERSION or tuple(p["features"]) != feature_names():
        raise artifact.ArtifactError(
            f"blending model {model.card.version} does not match feature version {FEATURE_VERSION}"
        )
    log.info("loaded blending model %s", model.card.version)
    return BlendingModel(artifact=model, version=model.card.version, threshold=float(p["threshold"]))


_model: Lazy[BlendingModel] = Lazy(_load)


def get_model() -> BlendingModel:
    """The packaged model, loaded on first use (thread-safe)."""
    return _model.get()


def _resample_hull(hull: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced by arc length along the closed polygon ``hull`` (K, 2)."""
    closed = np.vstack([hull, hull[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    at = np.linspace(0.0, cum[-1], n, endpoint=False)
    return np.stack([np.interp(at, cum, closed[:, k]) for k in range(2)], axis=1)


def _maps(crop: np.ndarray) -> np.ndarray:
    """The six local maps (6, H, W) float32 of a resampled uint8 RGB crop."""
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab = cv2.GaussianBlur(lab, (0, 0), 1.5)
    g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    gf = g.astype(np.float32)
    noise = cv2.blur(np.abs(gf - cv2.medianBlur(g, 3).astype(np.float32)), (7, 7))
    g1 = cv2.GaussianBlur(gf, (0, 0), 1.0)
    g3 = cv2.GaussianBlur(gf, (0, 0), 3.0)
    grad = cv2.blur(cv2.magnitude(cv2.Sobel(g1, cv2.CV_32F, 1, 0), cv2.Sobel(g1, cv2.CV_32F, 0, 1)), (5, 5))
    fine = cv2.blur(np.abs(gf - g1), (7, 7))
    coarse = cv2.blur(np.abs(g1 - g3), (7, 7))
    return np.stack(
        [
            lab[..., 0],
            lab[..., 1],
            lab[..., 2],
            np.log(noise + 0.5),
            np.log1p(grad),
            np.log((fine + 0.5) / (coarse + 0.5)),
        ]
    )


def boundary_features(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The feature vector (see :func:`feature_names`) and the face height in native pixels."""
    pts = np.asarray(landmarks, np.float64)[:MESH_POINTS, :2]
    height = float(np.linalg.norm(pts[CHIN] - pts[FOREHEAD_TOP]))
    if not np.isfinite(pts).all() or height < 8.0:
        raise ValueError("degenerate landmarks")
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(axis=0)
    s = FACE_PX / height
    m = np.array([[s, 0.0, CROP_PX / 2 - s * centre[0]], [0.0, s, CROP_PX / 2 - s * centre[1]]])
    crop = cv2.warpAffine(
        rgb,
        m,
        (CROP_PX, CROP_PX),
        flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    maps = _maps(crop)
    outline = (_resample_hull(hull, N_RAYS) - centre) * s
    radii = np.asarray(RADII)
    xy = CROP_PX / 2 + outline[:, None, :] * radii[None, :, None]  # (rays, radii, 2)
    map_x = np.ascontiguousarray(xy[..., 0], np.float32)
    map_y = np.ascontiguousarray(xy[..., 1], np.float32)
    v = np.stack([cv2.remap(c, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101) for c in maps])
    unit = outline / np.linalg.norm(outline, axis=1, keepdims=True)
    radial = []
    for c in (0, 1, 2, 3, 5):
        sm = cv2.GaussianBlur(maps[c], (0, 0), GRAD_SIGMA)
        gx = cv2.remap(cv2.Sobel(sm, cv2.CV_32F, 1, 0), map_x, map_y, cv2.INTER_LINEAR)
        gy = cv2.remap(cv2.Sobel(sm, cv2.CV_32F, 0, 1), map_x, map_y, cv2.INTER_LINEAR)
        r = gx * unit[:, 0:1] + gy * unit[:, 1:2]
        t = -gx * unit[:, 1:2] + gy * unit[:, 0:1]
        radial.append(np.log(np.median(r**2, axis=0) + 1e-2) - np.log(np.median(t**2, axis=0) + 1e-2))
    profile = np.median(v - v.mean(axis=2, keepdims=True), axis=1)  # (maps, radii)
    step = np.abs(np.diff(v, axis=2)).mean(axis=1)  # (maps, radii - 1)
    ring = np.abs(v - np.roll(v, 1, axis=1)).mean(axis=1)  # (maps, radii)
    return np.concatenate([profile.ravel(), step.ravel(), ring.ravel(), np.ravel(radial)]), height


def _empty(message: str) -> Finding:
    return Finding(signal=SIGNAL, score=0.0, confidence=0.0, kind="swapped", message=message, features={})


def analyze(inp: SignalInput) -> Finding:
    """Probability that the face was composited into the image through a blending mask (a face swap)."""
    rgb = inp.rgb
    if inp.landmarks is None:
        return _empty("no face mesh: the blending boundary cannot be located")
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return _empty("not an RGB image")
    try:
        x, height = boundary_features(rgb, inp.landmarks)
        model = get_model()
    except (ValueError, cv2.error, OSError, KeyError) as exc:
        log.debug("blending analysis failed: %s", exc)
        return _empty("blending analysis failed on this face")
    if not np.isfinite(x).all():
        return _empty("blending features are not finite on this face")
    p = float(model.probability(x)[0])
    logit = math.log(max(p, 1e-9) / max(1.0 - p, 1e-9))
    # The score crosses 0.5 at the model's operating threshold, like every other signal's (the words and colour
    # of a finding are judged at 0.5: faceproof.decision.wording); the probability itself is the fusion's feature.
    margin = logit - math.log(model.threshold / (1.0 - model.threshold))
    score = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, margin))))
    confidence = float(np.clip((height - MIN_FACE_HEIGHT) / (FULL_FACE_HEIGHT - MIN_FACE_HEIGHT), 0.0, 1.0))
    against = " ".join(compared(p, model.threshold))
    if confidence == 0.0:
        message = f"the face is too small ({height:.0f} px) to see a blending boundary"
    elif score >= 0.5:
        message = f"a blending seam along the face outline (p = {against}): the face may be swapped"
    else:
        message = f"no blending seam along the face outline (p = {against})"
    features = {"blend_prob": p, "blend_logit": logit}
    return Finding(
        signal=SIGNAL, score=score, confidence=confidence, kind="swapped", message=message, features=features
    )
