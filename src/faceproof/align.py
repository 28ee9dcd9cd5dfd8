"""Two ways to cut a face out of an image: aligned to the recognizer's template, or square with context.

``align_face``: similarity alignment of a face to the 112x112 ArcFace template from its 5 keypoints.

Why a similarity (rotation + uniform scale + translation) and not a full affine: it keeps the face's proportions,
which the recognizer was trained on. The transform is the least-squares Umeyama estimate, as in
``cv2.FaceRecognizerSF.alignCrop`` and InsightFace, so SFace sees exactly the crops it was trained with.

``context_crop``: a square about the detected face box, ``context`` times its longer side, unrotated - what the
learned authenticity detectors read (forehead, hair, jaw and a band of background stay in view, where blending
boundaries and replay borders are). Training cuts its crops with this very function
(:mod:`faceproof.training.faces`), so a detector sees in service exactly what it learned on. Where the crop
leaves the image it is filled with mid-grey (0 after the networks' normalisation) rather than mirrored, so
padding never invents texture.
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


#: Fill value where a context crop leaves the image.
PAD_VALUE = 127


def context_transform(box: tuple[float, float, float, float], size: int, context: float) -> np.ndarray:
    """The 2x3 affine map from image pixels to a ``size`` square centred on ``box`` (x, y, w, h)."""
    x, y, w, h = (float(v) for v in box)
    scale = size / (context * max(w, h, 1.0))
    cx, cy = x + w / 2.0, y + h / 2.0
    return np.array([[scale, 0.0, size / 2.0 - scale * cx], [0.0, scale, size / 2.0 - scale * cy]], np.float64)


def context_crop(
    rgb: np.ndarray, box: tuple[float, float, float, float], size: int, context: float
) -> tuple[np.ndarray, np.ndarray]:
    """The square crop (size, size, 3) about ``box`` and its affine map from image pixels."""
    m = context_transform(box, size, context)
    interp = cv2.INTER_AREA if m[0, 0] < 1.0 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        rgb, m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3
    )
    return crop, m
