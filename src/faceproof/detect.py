"""Detect every face, then choose the one to profile.

Faces are returned largest first, so ``face_index=0`` (the default) is the largest face - the usual subject of a
portrait - and the caller can pick another one by index. The response always says how many faces there were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceproof.errors import FaceIndexOutOfRange, NoFace
from faceproof.models.yunet import RawDetection, get_yunet


@dataclass(frozen=True)
class DetectedFace:
    """A face: box (x, y, w, h) in pixels, detector score, and 5 keypoints (5, 2)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def detect_faces(rgb: np.ndarray) -> list[DetectedFace]:
    """All faces YuNet finds, largest first."""
    return order_faces(get_yunet().detect(rgb))


def order_faces(raw: list[RawDetection]) -> list[DetectedFace]:
    faces = [DetectedFace(box=r.box, score=r.score, keypoints=r.keypoints) for r in raw]
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
