"""Synthetic face manipulations for training and testing the blending detector: self-blends and face swaps.

Why synthesise: the development set has no face swaps, and a detector trained on one swapping tool learns that
tool's fingerprints. Self-Blended Images (SBI; Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended
Images", CVPR 2022) instead blend a slightly altered copy of a real photo into itself through a face-shaped mask.
The result has no identity change and no generator artefacts, only what every swap pipeline leaves behind: a
blending boundary with a colour/illumination step, a sharpness or noise mismatch, and small misalignment ghosts.
A detector trained on SBI vs the untouched photo has to learn those generic cues, which transfer to unseen swap
methods better than training on any one of them.

The recipe follows the paper (section 3 and its public code):

1. Source-target augmentation: one of the two copies gets a colour change (RGB shift, hue/saturation/value
   shift, brightness/contrast) and a frequency change (downscale-upscale or sharpen).
2. Source transformation: the source is resized (scale 0.95-1.05) and translated (up to 3 % of the face width
   horizontally, 1.5 % vertically) about the face centre.
3. Mask: the convex hull of the landmarks, in a random variant (whole mesh, without the forehead, shrunk to the
   inner face), deformed by a smooth random displacement field, eroded or dilated, and Gaussian-blurred.
4. Blend: ``out = source * r * mask + target * (1 - r * mask)`` with ``r`` drawn from {0.25, 0.5, 0.75, 1, 1, 1}.

:func:`swap_faces` is the other half: a classic landmark face swap of two *different* people (piecewise-affine
warp of the source's inner face onto the target's mesh via a Delaunay triangulation, Reinhard colour transfer in
Lab, then ``cv2.seamlessClone`` or a feathered alpha blend). It is never used for training, only as a held-out
"real swap" for evaluation and tests.

Everything here is a pure function of its inputs and the ``seed``; landmarks are the MediaPipe 478-point mesh in
image pixels (see :class:`faceproof.authenticity.base.SignalInput`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from faceproof.authenticity._region import CHIN, FOREHEAD_TOP, MESH_POINTS

# Eyebrow points of the MediaPipe mesh: the forehead is what lies above them.
EYEBROWS = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 336, 296, 334, 293, 300, 285, 295, 282, 283, 276)
# Inner lip contour: the destination's mouth opening is kept (a closed source mouth would be stretched over it).
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)

HullVariant = Literal["full", "no_forehead", "inner"]
HULL_VARIANTS: tuple[HullVariant, ...] = ("full", "no_forehead", "inner")
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class SelfBlend:
    """A self-blended image and how it was made (``mask`` is the final blend weight, float32 0..1)."""

    rgb: np.ndarray
    mask: np.ndarray
    hull: HullVariant
    ratio: float


def _points(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)[:MESH_POINTS, :2]
    if pts.shape != (MESH_POINTS, 2) or not np.isfinite(pts).all():
        raise ValueError("expected a (>=468, 2+) array of finite landmark coordinates")
    return pts


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Face centre, unit "down" vector (forehead to chin) and face height in pixels."""
    pts = _points(landmarks)
    down = pts[CHIN] - pts[FOREHEAD_TOP]
    height = float(np.linalg.norm(down))
    if height < 1.0:
        raise ValueError("degenerate landmarks")
    return pts.mean(axis=0), down / height, height


def hull_points(landmarks: np.ndarray, variant: HullVariant, shrink: float = 0.9) -> np.ndarray:
    """Convex hull (K, 2) of the mesh in one of the SBI mask variants.

    ``full``: the whole mesh (forehead to chin). ``no_forehead``: only points below the eyebrows' upper edge.
    ``inner``: the ``no_forehead`` hull shrunk towards its centroid by ``shrink`` (eyes, nose, mouth, inner
    cheeks), the region a classic swap replaces.
    """
    pts = _points(landmarks)
    if variant != "full":
        _, down, height = face_axes(landmarks)
        depth = pts @ down
        brow_top = float(np.min(depth[list(EYEBROWS)]))
        pts = pts[depth >= brow_top - 0.02 * height]
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if variant == "inner":
        centre = hull.mean(axis=0)
        hull = centre + (hull - centre) * shrink
    return hull


def _fill(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(polygon).astype(np.int32), 255, lineType=cv2.LINE_AA)
    return mask


def _smooth_field(shape: tuple[int, int], amplitude: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A smooth random displacement field (dx, dy), ~``amplitude`` px, varying over ~1/4 of the image."""
    h, w = shape
    coarse = rng.normal(0.0, amplitude, (2, 5, 5)).astype(np.float32)
    return tuple(cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)


def blend_mask(
    shape: tuple[int, int], landmarks: np.ndarray, rng: np.random.Generator, variant: HullVariant | None = None
) -> tuple[np.ndarray, HullVariant]:
    """A random SBI mask (float32 0..1) of ``shape`` and the hull variant it used."""
    chosen: HullVariant = variant or HULL_VARIANTS[int(rng.integers(len(HULL_VARIANTS)))]
    _, _, height = face_axes(landmarks)
    hull = hull_points(landmarks, chosen, shrink=float(rng.uniform(0.8, 0.95)))
    mask = _fill(shape, hull)
    # Elastic deformation of the outline (the paper's mask deformation), then erode or dilate.
    dx, dy = _smooth_field(shape, 0.03 * height, rng)
    grid_x, grid_y = np.meshgrid(np.arange(shape[1], dtype=np.float32), np.arange(shape[0], dtype=np.float32))
    mask = cv2.remap(mask, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    k = int(rng.integers(1, max(2, round(0.06 * height))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    sigma = float(rng.uniform(0.01, 0.06)) * height
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)
    # As in the paper's code, the blurred mask is re-normalised so its interior is fully blended.
    peak = float(soft.max())
    return (soft / peak if peak > 0 else soft).astype(np.float32), chosen


def _colour_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB shift, HSV shift and brightness/contrast, each with probability 0.3-0.5 (albumentations defaults)."""
    out = img.astype(np.float32)
    if rng.random() < 0.5:
        out += rng.uniform(-20.0, 20.0, 3).astype(np.float32)
    if rng.random() < 0.3:
        hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.3, 0.3) * 10.0) % 180.0
        hsv[..., 1:] += rng.uniform(-0.3, 0.3, 2).astype(np.float32) * np.float32(25.5)
        out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if rng.random() < 0.5 or not np.any(out != img):
        alpha, beta = 1.0 + rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1) * 255.0
        out = out * np.float32(alpha) + np.float32(beta)
    return np.clip(out, 0, 255).astype(np.uint8)


def _frequency_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Downscale-upscale (x0.25-0.5 ... 1) or sharpen, as in SBI's source-target augmentation."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        scale = float(rng.uniform(0.25, 0.75))
        small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    amount = float(rng.uniform(0.2, 0.5))
    blurred = cv2.GaussianBlur(img, (0, 0), 1.0)
    return cv2.addWeighted(img, 1.0 + amount, blurred, -amount, 0.0)


def self_blend(rgb: np.ndarray, landmarks: np.ndarray, seed: int) -> SelfBlend:
    """A Self-Blended Image of ``rgb`` (uint8 RGB) with its face landmarks; deterministic given ``seed``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an (H, W, 3) uint8 RGB image")
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    centre, _, height = face_axes(landmarks)
    source, target = rgb.copy(), rgb.copy()
    altered = _frequency_jitter(_colour_jitter(rgb, rng), rng)
    if rng.random() < 0.5:
        source = altered
    else:
        target = altered
    scale = float(rng.uniform(0.95, 1.0 / 0.95))
    shift = np.array([rng.uniform(-0.03, 0.03), rng.uniform(-0.015, 0.015)]) * height
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0.0, scale)
    m[:, 2] += shift
    source = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask, variant = blend_mask((h, w), landmarks, rng)
    ratio = float(BLEND_RATIOS[int(rng.integers(len(BLEND_RATIOS)))])
    weight = (mask * ratio)[..., None]
    out = source.astype(np.float32) * weight + target.astype(np.float32) * (1.0 - weight)
    return SelfBlend(rgb=np.clip(np.round(out), 0, 255).astype(np.uint8), mask=mask, hull=variant, ratio=ratio)


def _triangles(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Delaunay triangles (T, 3) of ``points`` (indices), from OpenCV's Subdiv2D."""
    h, w = shape
    lo = np.minimum(points.min(axis=0), 0) - 1
    hi = np.maximum(points.max(axis=0), (w, h)) + 1
    subdiv = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1))
    lookup: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(points.astype(np.float32)):
        key = (float(x), float(y))
        if key not in lookup:
            lookup[key] = i
            subdiv.insert(key)
    tris = []
    for t in subdiv.getTriangleList():
        idx = [lookup.get((float(np.float32(t[k])), float(np.float32(t[k + 1])))) for k in (0, 2, 4)]
        if None not in idx:
            tris.append(idx)
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


def warp_mesh(src_rgb: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, dst_shape: tuple[int, int]) -> np.ndarray:
    """Piecewise-affine warp of ``src_rgb`` so that ``src_pts`` land on ``dst_pts`` (inside their hull)."""
    h, w = dst_shape
    tris = _triangles(dst_pts, (h, w))
    # Rasterise triangle ids, then map every destination pixel through its triangle's affine transform.
    ids = np.full((h, w), -1, np.int32)
    mats = np.zeros((len(tris), 2, 3), np.float64)
    for k, tri in enumerate(tris):
        mats[k] = cv2.getAffineTransform(dst_pts[tri].astype(np.float32), src_pts[tri].astype(np.float32))
        cv2.fillConvexPoly(ids, np.round(dst_pts[tri]).astype(np.int32), int(k))
    ys, xs = np.nonzero(ids >= 0)
    m = mats[ids[ys, xs]]
    map_x = np.full((h, w), -1.0, np.float32)
    map_y = np.full((h, w), -1.0, np.float32)
    map_x[ys, xs] = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    map_y[ys, xs] = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
    return cv2.remap(src_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def colour_transfer(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer in Lab: ``src``'s per-channel mean/std inside ``mask`` matched to ``dst``'s."""
    sel = mask > 0
    if not sel.any():
        return src
    src_lab = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst_lab = cv2.cvtColor(dst, cv2.COLOR_RGB2LAB).astype(np.float32)
    s_mean, s_std = src_lab[sel].mean(axis=0), src_lab[sel].std(axis=0) + 1e-3
    d_mean, d_std = dst_lab[sel].mean(axis=0), dst_lab[sel].std(axis=0) + 1e-3
    out = (src_lab - s_mean) * (d_std / s_std) + d_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


SwapMethod = Literal["poisson", "alpha"]
#: What a swap replaces: ``inner`` the eyebrow-to-chin hull shrunk by 3-12 % (a classic landmark swap), ``face``
#: that hull whole, to its outline (as 3D-model and neural swaps render the whole face: only the head, hair and
#: ears stay the target's, and a little more of the source's identity reaches the recognizers).
SwapRegion = Literal["inner", "face"]


def swap_faces(
    src_rgb: np.ndarray,
    src_landmarks: np.ndarray,
    dst_rgb: np.ndarray,
    dst_landmarks: np.ndarray,
    seed: int,
    method: SwapMethod | None = None,
    source_share: float | None = None,
    region: SwapRegion = "inner",
) -> np.ndarray:
    """``dst_rgb`` with its inner face replaced by the one of ``src_rgb`` (a classic landmark face swap).

    The source face is warped triangle by triangle onto the destination mesh, colour-matched in Lab, and
    composited inside the destination's eyebrow-to-chin hull (``region``: shrunk a little, or whole) either with
    Poisson blending (``cv2.seamlessClone``, ``method="poisson"``) or with a feathered alpha mask (``"alpha"``);
    the destination's mouth opening is kept. The seed picks the shrink, the feather width and, when ``method`` is
    None, the method.

    ``source_share``: the source face is first brought down to this share of the destination face's height, as a
    swap generator renders its face at a few hundred pixels and the warp then enlarges it into the frame (Li & Lyu,
    "Exposing DeepFake Videos By Detecting Face Warping Artifacts", CVPRW 2019); None keeps the source's own size.
    """
    for img in (src_rgb, dst_rgb):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError("expected (H, W, 3) uint8 RGB images")
    if source_share is not None:
        scale = min(1.0, source_share * face_axes(dst_landmarks)[2] / face_axes(src_landmarks)[2])
        src_rgb = cv2.resize(src_rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        src_landmarks = np.asarray(src_landmarks, np.float64).copy()
        src_landmarks[:, :2] *= scale
    rng = np.random.default_rng(seed)
    h, w = dst_rgb.shape[:2]
    src_pts, dst_pts = _points(src_landmarks), _points(dst_landmarks)
    warped = warp_mesh(src_rgb, src_pts, dst_pts, (h, w))
    shrink = rng.uniform(0.88, 0.97) if region == "inner" else rng.uniform(0.98, 1.0)
    hull = hull_points(dst_landmarks, "inner", shrink=float(shrink))
    mask = _fill((h, w), hull)
    _, _, height = face_axes(dst_landmarks)
    k = max(1, round(0.02 * height))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    mouth = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mouth, [np.round(dst_pts[list(INNER_LIPS)]).astype(np.int32)], 255)
    mask[cv2.dilate(mouth, np.ones((3, 3), np.uint8)) > 0] = 0
    warped = colour_transfer(warped, dst_rgb, mask)
    ys, xs = np.nonzero(mask)
    inside = ys.size and ys.min() > 1 and xs.min() > 1 and ys.max() < h - 2 and xs.max() < w - 2
    poisson = rng.random() < 0.5 if method is None else method == "poisson"
    if inside and poisson:
        centre = ((int(xs.min()) + int(xs.max()) + 1) // 2, (int(ys.min()) + int(ys.max()) + 1) // 2)
        return cv2.seamlessClone(warped, dst_rgb, mask, centre, cv2.NORMAL_CLONE)
    feather = float(rng.uniform(0.02, 0.05)) * height
    alpha = cv2.GaussianBlur(cv2.erode(mask, np.ones((3, 3), np.uint8)), (0, 0), feather).astype(np.float32) / 255.0
    out = warped.astype(np.float32) * alpha[..., None] + dst_rgb.astype(np.float32) * (1.0 - alpha[..., None])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


ReplayKind = Literal["screen", "print"]


def glare(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A specular reflection on the glass or glossy paper: a soft, bright, slightly elongated blob."""
    h, w = rgb.shape[:2]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    sx, sy = rng.uniform(0.08, 0.3) * w, rng.uniform(0.05, 0.2) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2.0)
    strength = rng.uniform(0.25, 0.8)
    out = rgb.astype(np.float32) + (255.0 - rgb.astype(np.float32)) * (strength * blob)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def perspective(rgb: np.ndarray, rng: np.random.Generator, max_shift: float = 0.06) -> np.ndarray:
    """The replayed picture seen at an angle: each corner moved by up to ``max_shift`` of the side."""
    h, w = rgb.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-max_shift, max_shift, (4, 2)).astype(np.float32) * np.float32([w, h])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def bezel(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The edge of the screen or the print in view: a dark (screen) or light (paper) band along one or two sides,
    with the room's colour beyond it."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    dark = rng.random() < 0.6
    frame = rng.integers(5, 40, 3) if dark else rng.integers(200, 250, 3)
    room = rng.integers(40, 200, 3)
    for side in rng.choice(4, int(rng.integers(1, 3)), replace=False):
        width = int(rng.uniform(0.04, 0.15) * (w if side in (1, 3) else h))
        room_w = int(rng.uniform(0.0, 1.0) * width)
        if side == 0:
            out[:width] = frame
            out[: room_w // 2] = room
        elif side == 1:
            out[:, w - width :] = frame
            out[:, w - room_w // 2 :] = room
        elif side == 2:
            out[h - width :] = frame
            out[h - room_w // 2 :] = room
        else:
            out[:, :width] = frame
            out[:, : room_w // 2] = room
    return out


def replay(rgb: np.ndarray, kind: ReplayKind, seed: int, scale: float = 1.0) -> np.ndarray:
    """A simulated presentation attack: ``rgb`` shown on a screen or printed, then photographed.

    ``scale``: how many times larger than ``rgb`` the camera saw the replay before the picture was brought back to
    ``rgb``'s size - the screen grid or the half-tone is then finer relative to the face, as in a close, high-
    resolution capture; a detector must see replays at every such scale.

    The display or print itself (sub-pixel grid and moiré, or half-tone dots and paper; gamut, gamma, black level)
    is :func:`faceproof.authenticity.recapture.make_recapture_variants`; around it, with their own probabilities,
    what a camera pointed at a replay also catches: the picture at an angle, a glare, the bezel or paper edge.
    """
    from faceproof.authenticity.recapture import make_recapture_variants

    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    big = rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    out = make_recapture_variants(big, int(rng.integers(2**31)))[kind]
    if rng.random() < 0.5:
        out = perspective(out, rng)
    if rng.random() < 0.3:
        out = glare(out, rng)
    if rng.random() < 0.35:
        out = bezel(out, rng)
    return out if scale == 1.0 else cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
