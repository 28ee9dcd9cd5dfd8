"""Similarity alignment of a face to the 112x112 ArcFace template from its 5 keypoints.

Why a similarity (rotation + uniform scale + translation) and not a full affine: it keeps the face's proportions,
which the recognizer was trained on. The transform is the least-squares Umeyama estimate, as in
``cv2.FaceRecognizerSF.alignCrop`` and InsightFace, so SFace sees exactly the crops it was trained with.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Where the 5 keypoints sit in a 112x112 aligned crop (right eye, left eye, nose, right/left mouth corner).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
ALIGNED_SIZE = 112


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Umeyama (1991) least-squares similarity mapping ``src`` points onto ``dst``; returns a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / n
    scale = float((s * d).sum() / var_src) if var_src > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_face(rgb: np.ndarray, keypoints: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The face warped to the template: (size, size, 3) uint8 RGB."""
    template = ARCFACE_TEMPLATE * (size / ALIGNED_SIZE)
    matrix = similarity_transform(keypoints, template)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
