"""Dense facial geometry from the 478 MediaPipe landmarks: head pose, proportions, shape class, symmetry.

Why: the identity embedding says *whether* two faces look alike; these measurements say *how* a face is built,
in numbers a person can check (a profile is the mean/std of them over enrolment photos). Bone proportions (eye
spacing, face width/height, nose and mouth width relative to the pupils) stay put across photos of one person
and differ between people, and implausible values or a face whose proportions drift far from the enrolled
profile are evidence worth showing next to the embedding score.

Everything here is pure computation on a (478, 3) array of image-pixel landmarks (see
:mod:`faceproof.models.facemesh`); nothing loads a model.

Conventions
- "Right"/"left" are the **subject's**: the subject's right eye is on the image left in an ordinary
  (non-mirrored) photo. MediaPipe index 468 is the subject's right iris centre, 473 the left.
- Lengths are divided by the 3-D inter-pupillary distance (IPD) of the same mesh, and measured in 3-D (x, y in
  pixels, z the mesh's relative depth in the same pixel units), so they change little with head turn or scale.
- Head pose (degrees), camera frame x right, y down, z into the scene, pinhole with focal length = the longer
  image side and the principal point at the centre of the face, so the angles are relative to the line of
  sight (a face off-centre in a cropped photo is not read as turned):
  - ``yaw`` > 0: the nose points to the image right (an ordinary photo: the subject turned to their left).
    Mirroring the image flips the sign.
  - ``pitch`` > 0: the nose points up (chin raised).
  - ``roll`` > 0: the head is rotated clockwise in the image (the eye on the image right is lower).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

# --- landmark indices (MediaPipe FaceMesh topology) ---------------------------------------------------------
RIGHT_IRIS, LEFT_IRIS = 468, 473
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
# Eye aspect ratio (Soukupová & Čech 2016): p1..p6 = outer corner, two upper lid, inner corner, two lower lid.
RIGHT_EAR_POINTS = (33, 160, 158, 133, 153, 144)
LEFT_EAR_POINTS = (263, 387, 385, 362, 380, 373)
NOSE_ALAR = (129, 358)  # outermost points of the nostril wings
MOUTH_CORNERS = (61, 291)
INNER_LIP_UPPER, INNER_LIP_LOWER = 13, 14
FOREHEAD = (54, 284)  # face oval at the temples
CHEEKBONES = (234, 454)  # widest points of the face oval
JAW = (172, 397)  # face oval at the jaw angle (gonion)
FACE_TOP, GLABELLA, SUBNASALE, CHIN = 10, 9, 2, 152

# Mirror pairs (subject's right, subject's left) from MediaPipe's connection sets (eyes, brows, face oval,
# lips, nose) and the midline points, for the symmetry score.
SYMMETRIC_PAIRS: tuple[tuple[int, int], ...] = (
    # eyes
    (33, 263),
    (7, 249),
    (163, 390),
    (144, 373),
    (145, 374),
    (153, 380),
    (154, 381),
    (155, 382),
    (133, 362),
    (246, 466),
    (161, 388),
    (160, 387),
    (159, 386),
    (158, 385),
    (157, 384),
    (173, 398),
    (468, 473),
    # eyebrows
    (46, 276),
    (53, 283),
    (52, 282),
    (65, 295),
    (55, 285),
    (70, 300),
    (63, 293),
    (105, 334),
    (66, 296),
    (107, 336),
    # face oval
    (109, 338),
    (67, 297),
    (103, 332),
    (54, 284),
    (21, 251),
    (162, 389),
    (127, 356),
    (234, 454),
    (93, 323),
    (132, 361),
    (58, 288),
    (172, 397),
    (136, 365),
    (150, 379),
    (149, 378),
    (176, 400),
    (148, 377),
    # lips
    (61, 291),
    (146, 375),
    (91, 321),
    (181, 405),
    (84, 314),
    (185, 409),
    (40, 270),
    (39, 269),
    (37, 267),
    (78, 308),
    (95, 324),
    (88, 318),
    (178, 402),
    (87, 317),
    (191, 415),
    (80, 310),
    (81, 311),
    (82, 312),
    # nose
    (129, 358),
    (98, 327),
    (64, 294),
    (48, 278),
    (49, 279),
    (102, 331),
    (131, 360),
)
MIDLINE: tuple[int, ...] = (
    10,
    151,
    9,
    8,
    168,
    6,
    197,
    195,
    5,
    4,
    1,
    19,
    94,
    2,
    164,
    0,
    13,
    14,
    17,
    18,
    200,
    199,
    175,
    152,
)

# MediaPipe canonical face model (canonical_face_model.obj; centimetres, y up, z towards the viewer) for the
# points used by solvePnP: eye corners, mouth corners, nose tip, chin.
_PNP_INDICES = (33, 133, 362, 263, 61, 291, 1, 152)
_CANONICAL_3D = np.array(
    [
        [-4.445859, 2.663991, 3.173422],
        [-1.856432, 2.585245, 3.757904],
        [1.856432, 2.585245, 3.757904],
        [4.445859, 2.663991, 3.173422],
        [-2.456206, -4.342621, 4.283884],
        [2.456206, -4.342621, 4.283884],
        [0.0, -1.126865, 7.475604],
        [0.0, -9.403378, 4.264492],
    ],
    dtype=np.float64,
) * np.array([1.0, -1.0, -1.0])  # to OpenCV's camera axes: y down, z away from the viewer

# --- thresholds (measured on the dev set; see docs/profile.md) ----------------------------------------------
# The canonical model's forward axis is tilted against a level gaze: the median raw pitch of the 205 dev
# faces was -8.4 deg (real) and -9.8 deg (generated portraits, rendered level); this offset re-centres it.
PITCH_OFFSET_DEG = 9.0
EYES_CLOSED_EAR = 0.15
MOUTH_OPEN_RATIO = 0.12
SYMMETRY_SCALE = 0.10  # RMS mirror residual / IPD at which the symmetry score reaches 0
# Face-shape rules on length = face height / cheekbone width, forehead/cheekbones, jaw/cheekbones.
SHAPE_OBLONG_LENGTH = 1.25
SHAPE_SHORT_LENGTH = 1.15
SHAPE_WIDE_JAW = 0.81
SHAPE_NARROW_JAW = 0.775
SHAPE_WIDE_FOREHEAD = 0.88
SHAPE_NARROW_FOREHEAD = 0.85
FACE_SHAPES = ("oval", "round", "square", "heart", "oblong", "diamond")


@dataclass(frozen=True)
class Geometry:
    """Measured geometry of one face in one image (plain fields, so it serialises as is)."""

    yaw: float
    pitch: float
    roll: float
    face_shape: str
    upper_third: float
    middle_third: float
    lower_third: float
    ipd_px: float
    intercanthal_ratio: float
    eye_width_right_ratio: float
    eye_width_left_ratio: float
    nose_width_ratio: float
    mouth_width_ratio: float
    face_width_ratio: float
    face_height_ratio: float
    forehead_width_ratio: float
    jaw_width_ratio: float
    ear_right: float
    ear_left: float
    mouth_openness: float
    symmetry: float
    eyes_closed: bool
    mouth_open: bool

    def measurements(self) -> dict[str, float]:
        """The scale- and pose-normalised scalars that describe the person (for mean/std over enrolment).

        Pose, pixel size and expression-driven values (eye openness, mouth openness) are left out: they
        describe the photo, not the face. So is ``symmetry``: on the dev set its mirror residual correlates
        with |yaw| (r = 0.85), so it is a per-photo reading, to be compared only between near-frontal photos.
        """
        keep = (
            "upper_third",
            "middle_third",
            "lower_third",
            "intercanthal_ratio",
            "eye_width_right_ratio",
            "eye_width_left_ratio",
            "nose_width_ratio",
            "mouth_width_ratio",
            "face_width_ratio",
            "face_height_ratio",
            "forehead_width_ratio",
            "jaw_width_ratio",
        )
        values = asdict(self)
        return {k: float(values[k]) for k in keep}


def _dist(lm: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(lm[a] - lm[b]))


def eye_aspect_ratio(lm: np.ndarray, points: tuple[int, int, int, int, int, int]) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|): ~0.25-0.35 for an open eye, below ~0.12 when closed."""
    p1, p2, p3, p4, p5, p6 = points
    return (_dist(lm, p2, p6) + _dist(lm, p3, p5)) / (2.0 * max(_dist(lm, p1, p4), 1e-6))


def head_pose(lm: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees: solvePnP of the canonical face onto the 2-D landmarks (module doc)."""
    f = float(max(image_size))
    image_points = lm[list(_PNP_INDICES), :2].astype(np.float64)
    cx, cy = image_points.mean(axis=0)
    camera = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    ok, rvec, _ = cv2.solvePnP(_CANONICAL_3D, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        raise ValueError("solvePnP failed on the landmarks")
    rot, _ = cv2.Rodrigues(rvec)
    forward = -rot[:, 2]  # the direction the face points, in camera coordinates (towards the camera when frontal)
    yaw = math.degrees(math.atan2(forward[0], -forward[2]))
    pitch = math.degrees(math.atan2(-forward[1], math.hypot(forward[0], forward[2]))) + PITCH_OFFSET_DEG
    roll = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))
    return yaw, pitch, roll


def _kabsch_rms(source: np.ndarray, target: np.ndarray) -> float:
    """RMS distance after the best rotation + translation of ``source`` onto ``target`` (both (n, 3))."""
    src = source - source.mean(axis=0)
    tgt = target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(src.T @ tgt)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.sqrt(np.mean(np.sum((src @ rot - tgt) ** 2, axis=1))))


def mirror_residual(lm: np.ndarray) -> float:
    """RMS distance, in IPD units, between the face and its mirror image after rigid alignment.

    Mirroring the x coordinate and swapping every left/right pair gives the face's mirror twin; for a
    perfectly symmetric face a rotation maps it back onto the original whatever the head pose, so in principle
    the residual measures asymmetry only (in practice the mesh's depth errors grow with yaw, see docs).
    """
    right = [a for a, _ in SYMMETRIC_PAIRS]
    left = [b for _, b in SYMMETRIC_PAIRS]
    idx = np.array(right + left + list(MIDLINE))
    swapped = np.array(left + right + list(MIDLINE))
    points = lm[idx].astype(np.float64)
    mirrored = lm[swapped].astype(np.float64) * np.array([-1.0, 1.0, 1.0])
    return _kabsch_rms(mirrored, points) / max(_dist(lm, RIGHT_IRIS, LEFT_IRIS), 1e-6)


def vertical_thirds(lm: np.ndarray) -> tuple[float, float, float]:
    """Upper (mesh top to glabella), middle (glabella to subnasale), lower (subnasale to chin) as fractions.

    Distances are taken along the face's own vertical axis (top -> chin), so head roll does not change them.
    The mesh stops at mid-forehead, not the hairline, so the upper third is systematically short (see docs).
    """
    top, chin = lm[FACE_TOP].astype(np.float64), lm[CHIN].astype(np.float64)
    axis = (chin - top) / max(float(np.linalg.norm(chin - top)), 1e-6)
    t = [float((lm[i] - top) @ axis) for i in (GLABELLA, SUBNASALE)]
    total = float((chin - top) @ axis)
    parts = (t[0], t[1] - t[0], total - t[1])
    return tuple(p / total for p in parts)  # type: ignore[return-value]


def classify_face_shape(length: float, forehead: float, jaw: float) -> str:
    """Face shape from length = height/cheekbone width and forehead and jaw widths relative to the cheekbones.

    Rules, first match wins (thresholds from the dev-set distribution, see docs/profile.md):
    - oblong: length >= SHAPE_OBLONG_LENGTH (long face, any widths);
    - diamond: forehead and jaw both narrow (< the NARROW thresholds): cheekbones dominate;
    - heart: forehead wide (>= SHAPE_WIDE_FOREHEAD) and jaw narrow (< SHAPE_NARROW_JAW);
    - square: short (length < SHAPE_SHORT_LENGTH) and jaw wide (>= SHAPE_WIDE_JAW);
    - round: short and jaw not wide;
    - oval: everything else (medium length, balanced widths).
    """
    if length >= SHAPE_OBLONG_LENGTH:
        return "oblong"
    if forehead < SHAPE_NARROW_FOREHEAD and jaw < SHAPE_NARROW_JAW:
        return "diamond"
    if forehead >= SHAPE_WIDE_FOREHEAD and jaw < SHAPE_NARROW_JAW:
        return "heart"
    if length < SHAPE_SHORT_LENGTH:
        return "square" if jaw >= SHAPE_WIDE_JAW else "round"
    return "oval"


def measure_geometry(landmarks: np.ndarray, image_size: tuple[int, int]) -> Geometry:
    """All geometry for one face: ``landmarks`` (478, 3) in image pixels, ``image_size`` = (width, height)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (478, 3):
        raise ValueError(f"expected (478, 3) landmarks, got {lm.shape}")
    ipd3 = max(_dist(lm, RIGHT_IRIS, LEFT_IRIS), 1e-6)
    ipd_px = float(np.linalg.norm(lm[RIGHT_IRIS, :2] - lm[LEFT_IRIS, :2]))

    def ratio(a: int, b: int) -> float:
        return _dist(lm, a, b) / ipd3

    yaw, pitch, roll = head_pose(lm, image_size)
    upper, middle, lower = vertical_thirds(lm)
    cheek = ratio(*CHEEKBONES)
    forehead = ratio(*FOREHEAD)
    jaw = ratio(*JAW)
    height = ratio(FACE_TOP, CHIN)
    ear_r = eye_aspect_ratio(lm, RIGHT_EAR_POINTS)
    ear_l = eye_aspect_ratio(lm, LEFT_EAR_POINTS)
    mouth_width = ratio(*MOUTH_CORNERS)
    openness = ratio(INNER_LIP_UPPER, INNER_LIP_LOWER) / max(mouth_width, 1e-6)
    symmetry = max(0.0, 1.0 - mirror_residual(lm) / SYMMETRY_SCALE)
    return Geometry(
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        face_shape=classify_face_shape(height / cheek, forehead / cheek, jaw / cheek),
        upper_third=upper,
        middle_third=middle,
        lower_third=lower,
        ipd_px=ipd_px,
        intercanthal_ratio=ratio(RIGHT_EYE_INNER, LEFT_EYE_INNER),
        eye_width_right_ratio=ratio(RIGHT_EYE_OUTER, RIGHT_EYE_INNER),
        eye_width_left_ratio=ratio(LEFT_EYE_INNER, LEFT_EYE_OUTER),
        nose_width_ratio=ratio(*NOSE_ALAR),
        mouth_width_ratio=mouth_width,
        face_width_ratio=cheek,
        face_height_ratio=height,
        forehead_width_ratio=forehead,
        jaw_width_ratio=jaw,
        ear_right=ear_r,
        ear_left=ear_l,
        mouth_openness=openness,
        symmetry=symmetry,
        eyes_closed=max(ear_r, ear_l) < EYES_CLOSED_EAR,
        mouth_open=openness >= MOUTH_OPEN_RATIO,
    )
