"""Pictures of the evidence: where in the photo each finding that points to a fake saw what it saw.

A verdict is easier to trust - or to doubt - when a person can see what it rests on. For each finding asked for,
:func:`evidence_maps` returns one map in the photo's own pixel coordinates, naming the finding it explains (its
``signal``; ``geometry`` for verification's geometry check) and worded by :mod:`faceproof.decision.wording`:

- **activation** - the learned crop detectors (``generated_net``, ``replay_net``): their class-activation map
  (Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016). Each head is linear on the
  channel means of the backbone's last feature map, so the head applied at every position of that map gives each
  cell's exact share of the logit (the logit is their mean plus the other stages' terms and the bias). The head
  computed it with the score, from the backbone pass memoised on the face (:mod:`~faceproof.authenticity.
  crop_model`), and the finding carries it: nothing runs a second time. Shown: the positive part (towards a
  fake) relative to its own peak, bilinear over the coarse grid (one cell per 32 view pixels, 5 x 5 for a 160 px
  view), warped into the photo through the view's affine map.
- **boundary** - the swap findings (``blending``, ``noise``, the profile's face-swap check ``consistency``): where
  the face carries less fine-scale noise than its own outer skin. A swap pastes an inner face rendered or
  resampled elsewhere into a photo: generators synthesise faces at a few hundred pixels and warp them into the
  frame (Li & Lyu, "Exposing DeepFake Videos By Detecting Face Warping Artifacts", CVPRW 2019), and the warp's
  interpolation alone averages the sensor noise away; the forehead, outer cheeks and jaw - the outer face, which a
  swap keeps (the same split as the face-swap check, :func:`~faceproof.authenticity.consistency.inner_mask`) -
  still carry the camera's noise. The local noise level is the mean absolute residual of a 3x3 median (as in the
  noise signal) over the weakly textured pixels only (gradient below the face's median: noise is measurable only
  where there is no content), in windows of 1/12 of the face height, at native resolution; the map is how far its
  log falls *below* the outer face's median. Only a deficit counts: lashes, brows, lips and teeth have more fine
  energy than skin in every real face, so an excess is anatomy, not evidence; no feature of a real face is
  smoother than its own skin under the same camera - except make-up, retouching and a beauty filter, where the
  map misleads (docs/authenticity.md). The edge of the pasted region is the blending boundary; the overlay
  draws it where the map crosses half its full scale.
- **spectrum** - the recapture finding: the spectrum the ``recap_peak`` feature read (:func:`~faceproof.
  authenticity.recapture.spectrum`), the isolated peaks a screen's or a printer's grid leaves, with the window it
  was taken from.
- **mesh** - the eyes (``physiology``) and verification's geometry check: the face mesh those measurements came
  from, to see that it sits on the face.

The learned SFace probe (``learned``), the frequency signal and provenance have no picture: the probe reads pooled
activations of the whole aligned face, the frequency signal the face's whole spectrum, provenance the file's
metadata.

Cheap and only on request: nothing here runs inside :func:`~faceproof.authenticity.engine.assess`; the boundary
map and the spectrum are computed only for a finding asked for, and every map is pure numpy/OpenCV on the
analysed image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from faceproof.analysis import Analysis
from faceproof.authenticity import blending, consistency, generated_net, noise, physiology, recapture, replay_net
from faceproof.authenticity._region import CHIN, FOREHEAD_TOP, MESH_POINTS, box_ok
from faceproof.authenticity.base import Activation, Finding
from faceproof.authenticity.engine import DECISIVE_CONFIDENCE, AuthenticityReport
from faceproof.decision import wording
from faceproof.decision.verify import GeometryAgreement

log = logging.getLogger(__name__)

#: Which findings get a picture: ``flagged`` those on the flagged side of their operating point (and geometry
#: outside the person's spread), ``all`` every finding that could see something.
Scope = Literal["flagged", "all"]
MapKind = Literal["activation", "boundary", "spectrum", "mesh"]
#: The picture of each signal that has one.
PICTURES: dict[str, MapKind] = {
    generated_net.SIGNAL: "activation",
    replay_net.SIGNAL: "activation",
    blending.SIGNAL: "boundary",
    noise.SIGNAL: "boundary",
    consistency.SIGNAL: "boundary",
    recapture.SIGNAL: "spectrum",
    physiology.SIGNAL: "mesh",
}
GEOMETRY = "geometry"

#: Boundary map: noise-level windows are this fraction of the face height (forehead to chin)...
WINDOW_OF_HEIGHT = 1 / 12
#: ... the map is smoothed with a Gaussian of this fraction of it ...
SMOOTH_OF_HEIGHT = 1 / 40
#: ... added to the mean absolute residual (grey levels) before its log, so a residual of 0 is finite ...
LEVEL_FLOOR = 0.25
#: ... and a deficit of ln 3 (a third of the outer face's noise) is the top of the colour scale.
DEFICIT_FULL = float(np.log(3.0))
#: Faces below this height (pixels) hold too few flat pixels per window for a noise level.
MIN_FACE_HEIGHT = 40.0
#: Longer side of the face window the boundary map is computed on, at most (larger faces are area-averaged down,
#: which averages the noise of every window alike).
MAX_WINDOW = 1024
#: Spectrum picture: a peak of this log10 contrast over its neighbourhood is the top of the colour scale (real
#: photos' strongest bins stay near 1.2, simulated replays reach 2.5-3.5).
SPECTRUM_FULL = 3.0


@dataclass(frozen=True)
class EvidenceMap:
    """One picture of the evidence behind one finding.

    ``explains``: the finding's ``signal`` (``geometry`` for verification's geometry check); ``caption``: its words
    and colour. By ``kind``: ``heat`` (activation, boundary) is (H, W) float32 in 0..1 over the whole image;
    ``spectrum`` is the (h, w) float32 0..1 frequency plane (DC at the centre) of the image window ``region``
    (x, y, width, height); ``landmarks`` (mesh) the (478, 3) mesh in image pixels.
    """

    explains: str
    kind: MapKind
    caption: wording.Headline
    heat: np.ndarray | None = None
    spectrum: np.ndarray | None = None
    region: tuple[int, int, int, int] | None = None
    landmarks: np.ndarray | None = None


def evidence_maps(
    analysis: Analysis,
    report: AuthenticityReport | None,
    scope: Scope = "flagged",
    geometry: GeometryAgreement | None = None,
) -> list[EvidenceMap]:
    """The pictures of the evidence for the findings of ``report`` that ``scope`` asks for, and of ``geometry`` when
    verification measured it. At most one boundary map: it explains the swap finding with the most weight - the
    profile's face-swap check where it can decide the verdict (:data:`~faceproof.authenticity.engine.
    DECISIVE_CONFIDENCE`), else the strongest."""
    findings = [f for f in (report.findings if report else []) if f.signal in PICTURES and _asked(f, scope)]
    swaps = [f for f in findings if PICTURES[f.signal] == "boundary"]
    weightiest = max(swaps, key=_swap_weight) if swaps else None
    maps = [
        m
        for f in findings
        if PICTURES[f.signal] != "boundary" or f is weightiest
        if (m := _picture(analysis, f)) is not None
    ]
    landmarks = analysis.subject.landmarks
    if geometry is not None and geometry.compared and landmarks is not None and (scope == "all" or geometry.outside):
        caption = wording.geometry_caption([d.measurement for d in geometry.outside], geometry.compared)
        maps.append(EvidenceMap(GEOMETRY, "mesh", caption, landmarks=landmarks))
    return maps


def _swap_weight(f: Finding) -> tuple[bool, float]:
    return f.signal == consistency.SIGNAL and f.confidence >= DECISIVE_CONFIDENCE, f.score


def _asked(f: Finding, scope: Scope) -> bool:
    tone = wording.finding_tone(f)
    return tone == "warn" if scope == "flagged" else tone != "neutral"


def _picture(analysis: Analysis, f: Finding) -> EvidenceMap | None:
    kind = PICTURES[f.signal]
    caption = wording.evidence_caption(f, kind)
    rgb, landmarks = analysis.image.rgb, analysis.subject.landmarks
    try:
        if kind == "activation":
            if f.activation is None:
                return None
            return EvidenceMap(f.signal, kind, caption, heat=activation_heat(f.activation, rgb.shape[:2]))
        if kind == "spectrum":
            if not box_ok(rgb, analysis.subject.face.box):
                return None
            picture, region = recapture.spectrum(rgb, analysis.subject.face.box)
            scaled = np.clip(picture / SPECTRUM_FULL, 0.0, 1.0)
            return EvidenceMap(f.signal, kind, caption, spectrum=scaled, region=region)
        if landmarks is None:
            return None
        if kind == "mesh":
            return EvidenceMap(f.signal, kind, caption, landmarks=landmarks)
        return EvidenceMap(f.signal, kind, caption, heat=noise_deficit(rgb, landmarks))
    except (ValueError, cv2.error) as exc:  # a face too small or too cut for the map: no picture, no failure
        log.info("no %s picture for %s: %s", kind, f.signal, exc)
        return None


def activation_heat(activation: Activation, shape: tuple[int, int]) -> np.ndarray:
    """A crop detector's class-activation map in image pixels (``shape`` = image height, width): the positive part
    relative to its peak, 0 where the map has no positive cell and outside the detector's view."""
    cam = np.maximum(np.asarray(activation.cam, np.float32), 0.0)
    peak = float(cam.max()) if cam.size else 0.0
    if not peak > 0.0:
        return np.zeros(shape, np.float32)
    side = activation.view_size
    view = cv2.resize(cam / peak, (side, side), interpolation=cv2.INTER_LINEAR)
    return cv2.warpAffine(
        view,
        np.asarray(activation.view_to_image, np.float64),
        (shape[1], shape[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def noise_deficit(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The boundary map (see the module docstring): (H, W) float32 in 0..1, how far the face's local noise level
    falls below its outer face's, ``DEFICIT_FULL`` = 1; 0 outside the face's mesh hull. Raises ``ValueError`` for
    a face too small or without outer face to compare with."""
    pts = np.asarray(landmarks, np.float64)
    height = float(np.linalg.norm(pts[CHIN, :2] - pts[FOREHEAD_TOP, :2]))
    if not np.isfinite(pts).all() or height < MIN_FACE_HEIGHT:
        raise ValueError("face too small for a noise map")
    hull = cv2.convexHull(pts[:MESH_POINTS, :2].astype(np.float32)).reshape(-1, 2)
    h, w = rgb.shape[:2]
    margin = 0.1 * height
    x0, y0 = (max(0, int(v - margin)) for v in hull.min(axis=0))
    x1, y1 = int(min(w, hull[:, 0].max() + margin + 1)), int(min(h, hull[:, 1].max() + margin + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError("face outside the image")
    scale = min(1.0, MAX_WINDOW / max(x1 - x0, y1 - y0))
    crop = rgb[y0:y1, x0:x1]
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    local = pts.copy()
    local[:, :2] = (local[:, :2] - (x0, y0)) * scale
    local[:, 2] *= scale
    deficit = _deficit(crop, local, height * scale)
    if scale < 1.0:
        deficit = cv2.resize(deficit, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    heat = np.zeros((h, w), np.float32)
    heat[y0:y1, x0:x1] = np.clip(deficit / DEFICIT_FULL, 0.0, 1.0)
    return heat


def _deficit(crop: np.ndarray, landmarks: np.ndarray, height: float) -> np.ndarray:
    """ln(outer face's noise level / local noise level), at least 0, inside the face hull of ``crop``."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    residual = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32))
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 2.0)
    gradient = cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    face = np.zeros(grey.shape, np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(landmarks[:MESH_POINTS, :2].astype(np.float32)).astype(np.int32), 255)
    inside = face > 0
    flat = (gradient < np.median(gradient[inside])).astype(np.float32)
    win = max(3, round(height * WINDOW_OF_HEIGHT) | 1)
    level = cv2.blur(residual * flat, (win, win)) / np.maximum(cv2.blur(flat, (win, win)), 1e-3)
    log_level = np.log(level + LEVEL_FLOOR)
    outer = inside & (consistency.inner_mask(grey.shape, landmarks) == 0) & (flat > 0)
    if outer.sum() < 50:
        raise ValueError("no outer face to compare the noise with")
    deficit = np.maximum(0.0, np.median(log_level[outer]) - log_level).astype(np.float32)
    deficit = cv2.GaussianBlur(deficit, (0, 0), max(1.0, height * SMOOTH_OF_HEIGHT))
    deficit[~inside] = 0.0
    return deficit
