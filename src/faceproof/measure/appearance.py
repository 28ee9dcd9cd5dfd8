"""Skin tone (CIELAB, ITA°) and iris colour, sampled from mesh-defined patches.

Why: a profile that says "ITA 35° skin, brown irides, both eyes the same colour" is something a reviewer can
check against a new photo, and a large jump in skin tone or iris colour between enrolment and a probe (under
similar light), or two differently coloured irides where the profile had matching ones, is a cue for a
different person or a synthetic face (generated faces often render the two irides inconsistently).

How: patches are polygons over MediaPipe landmarks, chosen to avoid eyes, brows, nostrils and lips, so no
separate segmentation model is needed. Colour is converted with OpenCV from float32 RGB in 0..1, which gives
CIELAB with L in 0..100 and a, b in their usual units (8-bit input would give L scaled to 0..255). All
statistics are medians of the pixels that survive the clipping rules, so a few hair, shadow or highlight
pixels do not move them.

Lighting and white balance change every number here; they are measurements of the photo of the skin, not of
the skin itself, and should be compared with a tolerance learned over several enrolment photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Patch polygons (convex hulls of these landmarks). Subject's right/left.
RIGHT_CHEEK = (117, 118, 101, 36, 205, 187, 123, 50)
LEFT_CHEEK = (346, 347, 330, 266, 425, 411, 352, 280)
FOREHEAD = (108, 151, 337, 299, 9, 69)
# Iris: centre then 4 ring points; eye opening contour (to exclude lid-covered pixels).
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)
RIGHT_EYE_CONTOUR = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE_CONTOUR = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)

CLIP_LOW, CLIP_HIGH = 8, 247  # 8-bit values: a pixel with any channel outside is crushed or clipped
MIN_SKIN_PIXELS = 30
MIN_IRIS_PIXELS = 8
PUPIL_FRACTION = 0.4  # inner radius of the sampled annulus, as a fraction of the iris radius
LIMBUS_FRACTION = 0.9  # outer radius: stay inside the dark limbal ring and the sclera

# Iris colour-name boundaries in CIELAB (set on the real dev identities; docs/profile.md). Named so that the
# profile's attribute reader (faceproof.profile.attributes) works with exactly the boundaries used here.
IRIS_TOO_DARK_L = 20.0  # below: too dark for a hue to be read
IRIS_DARK_BROWN_L = 25.0  # warm irides below: dark brown
IRIS_LIGHT_BROWN_L = 42.0  # warm irides from here: light brown/hazel
IRIS_WARM_A = 4.0  # a or b at least this: the brown family
IRIS_WARM_B = 8.0
IRIS_BLUE_B = 1.5  # below: no yellow component, blue
IRIS_GREEN_A = 1.5  # below, with b >= IRIS_GREEN_B: yellow without red, green
IRIS_GREEN_B = 4.0

# ITA° categories (Chardon et al. 1991; Del Bino et al. 2006): lower bound of each class, descending.
ITA_CATEGORIES: tuple[tuple[float, str], ...] = (
    (55.0, "very light"),
    (41.0, "light"),
    (28.0, "intermediate"),
    (10.0, "tan"),
    (-30.0, "brown"),
    (-math.inf, "dark"),
)


@dataclass(frozen=True)
class IrisColour:
    """Median CIELAB of one iris's visible annulus and its colour name."""

    L: float
    a: float
    b: float
    name: str
    pixels: int


@dataclass(frozen=True)
class Appearance:
    """Skin tone and iris colour of one face in one photo; ``None`` where too few clean pixels showed."""

    skin_L: float | None  # noqa: N815 - CIELAB channel names L, a, b
    skin_a: float | None
    skin_b: float | None
    ita_deg: float | None
    ita_category: str | None
    skin_pixels: int
    iris_right: IrisColour | None
    iris_left: IrisColour | None
    iris_delta_e: float | None

    def measurements(self) -> dict[str, float]:
        """Scalars for the profile's mean/std (only those that were measured)."""
        out: dict[str, float] = {}
        for key in ("skin_L", "skin_a", "skin_b", "ita_deg", "iris_delta_e"):
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
        for side, iris in (("right", self.iris_right), ("left", self.iris_left)):
            if iris is not None:
                out.update({f"iris_{side}_L": iris.L, f"iris_{side}_a": iris.a, f"iris_{side}_b": iris.b})
        return out


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) to CIELAB float32 (L 0..100, D65)."""
    arr = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    if arr.size == 0:
        return np.empty((*np.shape(rgb)[:-1], 3), dtype=np.float32)
    return cv2.cvtColor(arr, cv2.COLOR_RGB2Lab).reshape(*np.shape(rgb)[:-1], 3)


def ita_category(ita: float) -> str:
    """ITA° class name: very light > 55 > light > 41 > intermediate > 28 > tan > 10 > brown > -30 > dark."""
    for lower, name in ITA_CATEGORIES:
        if ita > lower:
            return name
    return ITA_CATEGORIES[-1][1]


def iris_colour_name(L: float, a: float, b: float) -> str:
    """Name an iris colour from its median CIELAB, first rule that matches (data behind it: docs/profile.md).

    - dark brown: L < 20 (too dark for hue to be read; in practice brown-black irides);
    - warm (a >= 4 or b >= 8), the brown family: dark brown if L < 25, light brown/hazel if L >= 42,
      else brown;
    - blue: b < 1.5 (no yellow component);
    - green: a < 1.5 and b >= 4 (yellow without red);
    - grey: the rest (cool, low chroma).
    """
    if L < IRIS_TOO_DARK_L:
        return "dark brown"
    if a >= IRIS_WARM_A or b >= IRIS_WARM_B:
        if L < IRIS_DARK_BROWN_L:
            return "dark brown"
        return "light brown/hazel" if L >= IRIS_LIGHT_BROWN_L else "brown"
    if b < IRIS_BLUE_B:
        return "blue"
    if a < IRIS_GREEN_A and b >= IRIS_GREEN_B:
        return "green"
    return "grey"


def _polygon_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    hull = cv2.convexHull(np.round(points[:, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def _unclipped(pixels: np.ndarray) -> np.ndarray:
    """Rows of ``pixels`` (n, 3) uint8 with no channel crushed to black or clipped to white."""
    keep = np.all((pixels >= CLIP_LOW) & (pixels <= CLIP_HIGH), axis=1)
    return pixels[keep]


def sample_skin(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """CIELAB (n, 3) of the unclipped pixels of both cheeks and the forehead."""
    shape = rgb.shape[:2]
    mask = np.zeros(shape, dtype=bool)
    for patch in (RIGHT_CHEEK, LEFT_CHEEK, FOREHEAD):
        mask |= _polygon_mask(shape, landmarks[list(patch)])
    return rgb_to_lab(_unclipped(rgb[mask]))


def sample_iris(rgb: np.ndarray, landmarks: np.ndarray, iris: tuple[int, ...], eye: tuple[int, ...]) -> np.ndarray:
    """CIELAB (n, 3) of the iris annulus between pupil and limbus inside the eye opening, no highlights."""
    centre = landmarks[iris[0], :2].astype(np.float64)
    radius = float(np.mean(np.linalg.norm(landmarks[list(iris[1:]), :2] - centre, axis=1)))
    h, w = rgb.shape[:2]
    x0, x1 = max(int(centre[0] - radius) - 1, 0), min(int(centre[0] + radius) + 2, w)
    y0, y1 = max(int(centre[1] - radius) - 1, 0), min(int(centre[1] + radius) + 2, h)
    if x1 <= x0 or y1 <= y0 or radius < 1.0:
        return np.empty((0, 3), dtype=np.float32)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    r = np.hypot(xx + 0.5 - centre[0], yy + 0.5 - centre[1])
    ring = (r >= PUPIL_FRACTION * radius) & (r <= LIMBUS_FRACTION * radius)
    opening = _polygon_mask((h, w), landmarks[list(eye)])[y0:y1, x0:x1]
    lab = rgb_to_lab(_unclipped(rgb[y0:y1, x0:x1][ring & opening]))
    if len(lab) < MIN_IRIS_PIXELS:
        return lab
    # Specular highlights (reflections of windows, ring lights) are far brighter than the iris texture.
    q1, q3 = np.percentile(lab[:, 0], [25, 75])
    return lab[lab[:, 0] <= q3 + 1.5 * (q3 - q1)]


def _iris(rgb: np.ndarray, landmarks: np.ndarray, iris: tuple[int, ...], eye: tuple[int, ...]) -> IrisColour | None:
    lab = sample_iris(rgb, landmarks, iris, eye)
    if len(lab) < MIN_IRIS_PIXELS:
        return None
    L, a, b = (float(v) for v in np.median(lab, axis=0))
    return IrisColour(L=L, a=a, b=b, name=iris_colour_name(L, a, b), pixels=len(lab))


def measure_appearance(rgb: np.ndarray, landmarks: np.ndarray) -> Appearance:
    """Skin tone and iris colour of the face whose (478, 3) image-pixel ``landmarks`` are given."""
    lm = np.asarray(landmarks, dtype=np.float64)
    skin = sample_skin(rgb, lm)
    skin_L = skin_a = skin_b = ita = None
    category = None
    if len(skin) >= MIN_SKIN_PIXELS:
        skin_L, skin_a, skin_b = (float(v) for v in np.median(skin, axis=0))
        ita = math.degrees(math.atan2(skin_L - 50.0, skin_b))
        category = ita_category(ita)
    right = _iris(rgb, lm, RIGHT_IRIS, RIGHT_EYE_CONTOUR)
    left = _iris(rgb, lm, LEFT_IRIS, LEFT_EYE_CONTOUR)
    delta_e = None
    if right is not None and left is not None:
        delta_e = math.dist((right.L, right.a, right.b), (left.L, left.a, left.b))
    return Appearance(
        skin_L=skin_L,
        skin_a=skin_a,
        skin_b=skin_b,
        ita_deg=ita,
        ita_category=category,
        skin_pixels=len(skin),
        iris_right=right,
        iris_left=left,
        iris_delta_e=delta_e,
    )
