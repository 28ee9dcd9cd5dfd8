"""Eye physiology: features are computed and sane on a real photo; missing or tiny eyes give low confidence."""

from __future__ import annotations

import cv2
import numpy as np

from faceproof.authenticity import physiology
from faceproof.authenticity.base import SignalInput
from faceproof.intake import ImageMetadata
from tests.conftest import largest_box, load_rgb


def _input(
    rgb: np.ndarray, landmarks: np.ndarray | None, box: tuple[float, float, float, float] | None = None
) -> SignalInput:
    return SignalInput(
        rgb=rgb,
        face_box=box or largest_box(rgb),
        keypoints=np.zeros((5, 2), np.float32),
        landmarks=landmarks,
        metadata=ImageMetadata(format="ARRAY"),
    )


def _mesh(rgb: np.ndarray) -> np.ndarray:
    from faceproof.models.facemesh import get_facemesh

    lm = get_facemesh().landmarks(rgb, largest_box(rgb))
    assert lm is not None
    return lm


def test_real_photo_features_are_sane() -> None:
    rgb = load_rgb("df01_01.jpg")
    finding = physiology.analyze(_input(rgb, _mesh(rgb)))
    f = finding.features
    assert set(f) == set(physiology.FEATURES)
    assert f["phys_iris_radius"] > 5.0 and finding.confidence > 0.3
    assert 0.0 <= f["phys_highlight_iou"] <= 1.0 and 0.0 <= f["phys_pupil_biou"] <= 1.0
    assert 0.0 <= f["phys_iris_delta_e"] < 15.0  # the two irises of one person agree in colour
    assert finding.score < 0.5 and finding.kind == "generated"


def test_recoloured_iris_raises_delta_e() -> None:
    rgb = load_rgb("df01_01.jpg")
    lm = _mesh(rgb)
    base = physiology.analyze(_input(rgb, lm)).features["phys_iris_delta_e"]
    edited = rgb.copy()
    centre, ring = lm[473, :2], lm[474:478, :2]
    radius = float(np.linalg.norm(ring - centre, axis=1).mean())
    cv2.circle(edited, (round(centre[0]), round(centre[1])), round(radius), (40, 200, 40), -1)
    changed = physiology.analyze(_input(edited, lm)).features["phys_iris_delta_e"]
    assert changed > base + 20.0


def test_no_landmarks_or_tiny_face_is_low_confidence() -> None:
    rgb = load_rgb("df01_01.jpg")
    assert physiology.analyze(_input(rgb, None)).confidence == 0.0
    small = cv2.resize(rgb, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    lm = _mesh(rgb).copy()
    lm[:, :3] *= 0.12
    box = tuple(float(v) * 0.12 for v in largest_box(rgb))
    finding = physiology.analyze(_input(small, lm, box))
    assert finding.confidence < 0.2
    garbage = physiology.analyze(_input(rgb, np.full((478, 3), np.nan, np.float32), box))
    assert garbage.confidence == 0.0
