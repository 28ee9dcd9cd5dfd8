"""Detect every face, then choose the one to profile.

Faces are returned largest first, so ``face_index=0`` (the default) is the largest face - the usual subject of a
portrait - and the caller can pick another one by index. The response always says how many faces there were.
When YuNet's first pass finds none, the retry ladder of :mod:`faceproof.detect_ladder` looks again; each face says
which pass found it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceproof.detect_ladder import retry
from faceproof.errors import FaceIndexOutOfRange, NoFace
from faceproof.models.yunet import RawDetection, get_yunet

#: ``DetectedFace.rung`` of a face found by YuNet's ordinary pass (anything else names a rung of the ladder).
FIRST_PASS = "first pass"


@dataclass(frozen=True)
class DetectedFace:
    """A face: box (x, y, w, h) in pixels, detector score, 5 keypoints (5, 2), and the pass that found it:
    :data:`FIRST_PASS` or the name of a rung of the retry ladder (whose score may then be below the usual
    threshold, see :data:`faceproof.detect_ladder.LOW_SCORE_THRESHOLD`)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray
    rung: str = FIRST_PASS

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def detect_faces(rgb: np.ndarray) -> list[DetectedFace]:
    """All faces YuNet finds, largest first; when it finds none, those of the first ladder rung that does."""
    faces = order_faces(get_yunet().detect(rgb))
    if faces:
        return faces
    found = retry(rgb)
    return order_faces(found.faces, found.rung) if found is not None else []


def order_faces(raw: list[RawDetection], rung: str = FIRST_PASS) -> list[DetectedFace]:
    faces = [DetectedFace(box=r.box, score=r.score, keypoints=r.keypoints, rung=rung) for r in raw]
    return sorted(faces, key=lambda f: f.area, reverse=True)


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
