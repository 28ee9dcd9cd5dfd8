"""YuNet in ONNX Runtime (models/yunet.py) finds the faces OpenCV's own FaceDetectorYN finds, where it finds them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceproof.models import yunet
from tests.conftest import load_rgb


def opencv_faces(bgr: np.ndarray, score_threshold: float) -> np.ndarray:
    """FaceDetectorYN's rows (x, y, w, h, keypoints, score) on an image already at the detector's size."""
    detector = cv2.FaceDetectorYN.create(
        str(yunet.model_path()), "", (bgr.shape[1], bgr.shape[0]), score_threshold, yunet.NMS_THRESHOLD, yunet.TOP_K
    )
    _, rows = detector.detect(bgr)
    return np.zeros((0, 15), np.float32) if rows is None else rows


def as_rows(faces: list[yunet.RawDetection]) -> np.ndarray:
    return np.array([[*f.box, *f.keypoints.reshape(-1), f.score] for f in faces], np.float32).reshape(-1, 15)


def by_score(rows: np.ndarray) -> np.ndarray:
    return rows[np.argsort(-rows[:, 14], kind="stable")]


@pytest.mark.parametrize(
    ("name", "side", "score_threshold"),
    [
        ("df01_01.jpg", 640, yunet.SCORE_THRESHOLD),
        ("group_01.jpg", 640, yunet.SCORE_THRESHOLD),  # several faces: NMS keeps the same ones
        ("group_01.jpg", 300, 0.3),  # a size that is no multiple of 32, and a low threshold: more candidates
        ("swap_001.jpg", 200, yunet.SCORE_THRESHOLD),
        ("replay_001.jpg", 97, 0.45),
    ],
)
def test_the_same_faces_as_opencvs_detector(name: str, side: int, score_threshold: float) -> None:
    rgb = load_rgb(name)
    scale = side / max(rgb.shape[:2])
    rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    reference = by_score(opencv_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), score_threshold))
    got = by_score(as_rows(yunet.get_yunet().detect(rgb, score_threshold)))
    assert len(reference) >= 1
    assert got.shape == reference.shape
    assert np.abs(got - reference).max() < 1e-3  # pixels and score


def test_no_face_in_a_flat_image() -> None:
    assert yunet.get_yunet().detect(np.full((240, 320, 3), 128, np.uint8)) == []
