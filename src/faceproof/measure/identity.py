"""Identity embeddings from two independent recognizers, each tagged with its model and version.

A template is only ever compared with a template of the same ``key`` (``model@version``): vectors from another
model, or from the same model with other pre-processing, live in a different space and a cosine between them is
meaningless (see :class:`~faceproof.errors.IncompatibleTemplate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceproof.align import align_face
from faceproof.detect import DetectedFace
from faceproof.models import dlib_resnet, sface


@dataclass(frozen=True)
class Embedding:
    """An L2-normalised identity vector and the model that made it."""

    model: str
    version: str
    vector: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.model}@{self.version}"


SFACE_KEY = f"{sface.MODEL_NAME}@{sface.MODEL_VERSION}"
DLIB_KEY = f"{dlib_resnet.MODEL_NAME}@{dlib_resnet.MODEL_VERSION}"
MODEL_KEYS = (SFACE_KEY, DLIB_KEY)


def sface_embedding(rgb: np.ndarray, face: DetectedFace) -> Embedding:
    vec = sface.get_sface().embed(align_face(rgb, face.keypoints))
    return Embedding(sface.MODEL_NAME, sface.MODEL_VERSION, vec)


def dlib_embedding(rgb: np.ndarray, face: DetectedFace) -> Embedding:
    vec = dlib_resnet.get_dlib_resnet().embed(rgb, face.box)
    return Embedding(dlib_resnet.MODEL_NAME, dlib_resnet.MODEL_VERSION, vec)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (both are stored L2-normalised, but do not rely on it)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
