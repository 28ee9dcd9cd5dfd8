"""Detect every face, then choose the one to profile.

Faces are returned largest first, so ``face_index=0`` (the default) is the largest face - the usual subject of a
portrait - and the caller can pick another one by index. A face cut by the image border counts at its whole face's
estimated size (:func:`whole_face_size`), not at what the cut left of it. The response always says how many faces
there were. When YuNet's first pass finds none, the retry ladder of :mod:`faceproof.detect_ladder` looks again; each
face says which pass found it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceproof.detect_ladder import retry
from faceproof.errors import FaceIndexOutOfRange, NoFace
from faceproof.models.yunet import RawDetection, get_yunet

#: ``DetectedFace.rung`` of a face found by YuNet's ordinary pass (anything else names a rung of the ladder).
FIRST_PASS = "first pass"
#: Height / width of the production detector's box on uncut faces: 10th and 90th percentile over 137 corpus real
#: photos outside the held-out evaluation (up to 40 per source; median 1.32; the dev photos: 1.31-1.44).
#: :func:`whole_face_size` takes the end of this range that makes a cut face's estimate smallest.
FACE_ASPECT_RANGE = (1.19, 1.43)

Box = tuple[float, float, float, float]


def whole_face_size(box: Box) -> tuple[float, float]:
    """(width, height) of the whole face whose detector box is ``box``, for a face cut by the image border.

    On a cut face the detector boxes what is left: the box is shortened across the cut (a crop through the face
    that took 30 % of its height leaves a box about 30 % shorter), so its shorter side and its aspect describe the
    cut, not the face. Each side is therefore taken as at least what the other implies at the detector's aspect
    on uncut faces (:data:`FACE_ASPECT_RANGE`), with the end of that range that gives the smaller face: the
    estimate errs towards a smaller face, which reads blurrier
    (:func:`~faceproof.measure.quality.cut_face_sharpness`) and sooner too small, never the other way. A box of
    ordinary aspect is returned as it is.
    """
    _, _, w, h = box
    low, high = FACE_ASPECT_RANGE
    return max(float(w), h / high), max(float(h), low * w)


def reaches_border(box: Box, width: int, height: int) -> bool:
    """True when the box touches or crosses the image's edge (the face may be cut)."""
    x, y, w, h = box
    return x <= 0 or y <= 0 or x + w >= width or y + h >= height


@dataclass(frozen=True)
class DetectedFace:
    """A face: box (x, y, w, h) in pixels, detector score, 5 keypoints (5, 2), and the pass that found it:
    :data:`FIRST_PASS` or the name of a rung of the retry ladder (whose score may then be below the usual
    threshold, see :data:`faceproof.detect_ladder.LOW_SCORE_THRESHOLD`)."""

    box: Box
    score: float
    keypoints: np.ndarray
    rung: str = FIRST_PASS

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def detect_faces(rgb: np.ndarray) -> list[DetectedFace]:
    """All faces YuNet finds, largest first; when it finds none, those of the first ladder rung that does."""
    height, width = rgb.shape[:2]
    faces = order_faces(get_yunet().detect(rgb), (width, height))
    if faces:
        return faces
    found = retry(rgb)
    return order_faces(found.faces, (width, height), found.rung) if found is not None else []


def order_faces(raw: list[RawDetection], size: tuple[int, int], rung: str = FIRST_PASS) -> list[DetectedFace]:
    """Largest first, a face reaching the border of the ``size`` (width, height) image at its whole estimated size:
    a subject cut through the face by a tight crop stays first ahead of a smaller bystander whose face is whole
    (before, a crop of a development photo handed a blurred bystander's face to verification instead)."""

    def whole_area(face: DetectedFace) -> float:
        if not reaches_border(face.box, *size):
            return face.area
        w, h = whole_face_size(face.box)
        return w * h

    faces = [DetectedFace(box=r.box, score=r.score, keypoints=r.keypoints, rung=rung) for r in raw]
    return sorted(faces, key=whole_area, reverse=True)


def choose_face(faces: list[DetectedFace], face_index: int = 0) -> DetectedFace:
    if not faces:
        raise NoFace("No face was found in the image.")
    if not 0 <= face_index < len(faces):
        raise FaceIndexOutOfRange(
            f"face_index {face_index} is out of range: the image has {len(faces)} face(s), "
            "numbered from 0 (largest) upwards.",
            faces_found=len(faces),
        )
    return faces[face_index]
