"""The contract every authenticity signal follows.

A signal looks at one image (and, where it has one, the face's landmarks and the person's profile) and returns a
:class:`Finding`: a ``score`` in [0, 1] (0 = what a real camera photo of a real face looks like, 1 = strong evidence
of a fake), a ``confidence`` in [0, 1] (how much the signal could see: a tiny or blurred face gives low confidence),
the ``kind`` of fake it points at, a human-readable ``message``, and the raw ``features`` the fusion model learns on.
Signals never raise on a strange image: they return a low-confidence finding instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from faceproof.intake import ImageMetadata

FakeKind = Literal["generated", "swapped", "recaptured", "edited"]


@dataclass(frozen=True)
class SignalInput:
    """Everything a signal may look at. Pure data: signals do no I/O.

    ``rgb``: the whole upright image, uint8 (H, W, 3). ``face_box``: (x, y, w, h) in pixels of the face being
    judged. ``landmarks``: the 478-point MediaPipe mesh with iris, (478, 3) float32 in image pixels (z in the same
    pixel scale), or ``None`` when the mesh failed. ``keypoints``: YuNet's 5 points (right eye, left eye, nose tip,
    right mouth corner, left mouth corner) as (5, 2).
    """

    rgb: np.ndarray
    face_box: tuple[float, float, float, float]
    keypoints: np.ndarray
    landmarks: np.ndarray | None
    metadata: ImageMetadata


@dataclass(frozen=True)
class Finding:
    signal: str
    score: float
    confidence: float
    kind: FakeKind
    message: str
    features: dict[str, float] = field(default_factory=dict)
