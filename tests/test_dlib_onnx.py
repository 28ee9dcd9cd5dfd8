"""dlib's face-descriptor network rebuilt in ONNX Runtime (models/dlib_onnx.py) gives dlib's own descriptor."""

from __future__ import annotations

from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import pytest

from faceproof.models import dlib_onnx
from faceproof.models.dlib_resnet import get_dlib_resnet
from tests.conftest import largest_box, load_rgb


@pytest.mark.parametrize("name", ["df01_01.jpg", "group_01.jpg", "stylegan2_001.jpg"])
def test_the_onnx_descriptor_is_dlibs_own(name: str) -> None:
    rgb = load_rgb(name)
    box = largest_box(rgb)
    x, y, w, h = box
    shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())(
        rgb, dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
    )
    net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    reference = np.asarray(net.compute_face_descriptor(rgb, shape, 0), np.float32)
    got = get_dlib_resnet().embed(rgb, box)
    assert np.abs(got - reference / np.linalg.norm(reference)).max() < 1e-6


def test_other_files_are_refused() -> None:
    predictor = Path(face_recognition_models.pose_predictor_five_point_model_location()).read_bytes()
    with pytest.raises(dlib_onnx.DlibModelError):
        dlib_onnx.read_net(predictor)
