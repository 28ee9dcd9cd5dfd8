"""The five alignment keypoints, read from the face mesh as well as from the detector.

Why: both recognizers' templates are only as good as the alignment that cuts the face out, and YuNet places its
five keypoints (eyes, nose tip, mouth corners) from the face's appearance - when a mask covers the nose and mouth
it guesses them, and its eyes and box move with them. On 1,339 LFW photos of the calibration corpus with a
synthetic mask, YuNet's keypoints moved from where it put them on the unmasked photo by a median 0.08 of the eye
distance at the eyes and 0.15 at the mouth (90th percentile 0.27 and 0.45); SFace on the masked face aligned with
the *unmasked* photo's keypoints reached TAR 0.972 at FAR 1e-2 against the clean photos instead of 0.924. The
478-point mesh fits the whole face's shape and keeps the hidden points where the visible ones imply them.

What ships: artefact ``keypoints_from_mesh`` (:mod:`faceproof.training.fit_keypoints`): each of the five
keypoints as a fixed weighted mean of mesh points (the weights of each keypoint sum to one, so the map commutes
with rotation, scale and translation), fitted to where YuNet puts them on clean colour photos of people outside
the calibration set. The alignment keypoints are the mean of YuNet's and the mesh's estimates (:func:`refine`):
two independent estimates of the same points, whose mean was better than either on clean, masked and blurred
noisy photos alike (docs/calibration.md, "Keypoints from the mesh"). Without a mesh, YuNet's keypoints are used.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from faceproof.detect import DetectedFace
from faceproof.models import artifact

ARTIFACT = "keypoints_from_mesh"


def predict(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) keypoints in YuNet's convention (right eye, left eye, nose tip, right/left mouth corner) from the
    (478, 2 or 3) mesh in image pixels."""
    points = np.ascontiguousarray(np.asarray(landmarks, dtype=np.float32)[:, :2])
    return artifact.load(ARTIFACT).run({"landmarks": points}, ["keypoints"])["keypoints"]


def refined_keypoints(keypoints: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """The alignment keypoints: the mean of the detector's and the mesh's estimates (the detector's alone when
    there is no mesh)."""
    if landmarks is None:
        return keypoints
    return ((np.asarray(keypoints, np.float64) + predict(landmarks)) / 2.0).astype(np.asarray(keypoints).dtype)


def refine(face: DetectedFace, landmarks: np.ndarray | None) -> DetectedFace:
    """``face`` with its keypoints refined by the mesh (:func:`refined_keypoints`); box, score and rung kept."""
    if landmarks is None:
        return face
    return dataclasses.replace(face, keypoints=refined_keypoints(face.keypoints, landmarks))
