"""The contract every authenticity signal follows.

A signal looks at one image (and, where it has one, the face's landmarks and the person's profile) and returns a
:class:`Finding`: a ``score`` in [0, 1] (0 = what a real camera photo of a real face looks like, 1 = strong evidence
of a fake), a ``confidence`` in [0, 1] (how much the signal could see: a tiny or blurred face gives low confidence),
the ``kind`` of fake it points at, a human-readable ``message``, and the raw ``features`` the fusion model learns on.
Signals never raise on a strange image: they return a low-confidence finding instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from faceproof.intake import ImageMetadata

FakeKind = Literal["generated", "swapped", "recaptured", "edited"]
T = TypeVar("T")


class Memo:
    """What several signals derive from the same input, computed once: ``get(key, compute)``.

    Why on the input and not in a cache of its own: the crop detectors (generated and replay) are heads on one
    frozen backbone, and its pass over the face view is most of their cost; the input is the one object whose life
    is exactly one face of one image. A memo on it serves every signal of that face, then goes with it when the
    request ends - no global cache keyed on image arrays, nothing kept alive across requests, no eviction policy.
    Thread-safe: a lock is held while a value is computed, so two threads asking for the same key on the same
    input share one computation (signals of one input run in turn today; the lock makes that an implementation
    detail, not a condition). A computation that raises stores nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]

    def put(self, key: Hashable, value: object) -> None:
        """Store what was computed before the input existed (the analysis's own pass over the face)."""
        with self._lock:
            self._values[key] = value


@dataclass(frozen=True)
class SignalInput:
    """Everything a signal may look at. Pure data: signals do no I/O.

    ``rgb``: the whole upright image, uint8 (H, W, 3). ``face_box``: (x, y, w, h) in pixels of the face being
    judged. ``landmarks``: the 478-point MediaPipe mesh with iris, (478, 3) float32 in image pixels (z in the same
    pixel scale), or ``None`` when the mesh failed. ``keypoints``: YuNet's 5 points (right eye, left eye, nose tip,
    right mouth corner, left mouth corner) as (5, 2). ``memo``: values derived from these fields that several
    signals share (:class:`Memo`); a new input (``dataclasses.replace`` included) starts with an empty one.
    """

    rgb: np.ndarray
    face_box: tuple[float, float, float, float]
    keypoints: np.ndarray
    landmarks: np.ndarray | None
    metadata: ImageMetadata
    memo: Memo = field(default_factory=Memo, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class Activation:
    """Where a learned detector saw its evidence: ``cam`` (h, w) is its head's weights applied at every position of
    the backbone's last feature map - each cell's contribution to the logit, positive towards a fake - over the
    detector's square view of the face (``view_size`` pixels a side), whose pixels map to image pixels through
    ``view_to_image`` (2x3)."""

    cam: np.ndarray
    view_to_image: np.ndarray
    view_size: int


@dataclass(frozen=True)
class Finding:
    signal: str
    score: float
    confidence: float
    kind: FakeKind
    message: str
    features: dict[str, float] = field(default_factory=dict)
    activation: Activation | None = field(default=None, compare=False, repr=False)
