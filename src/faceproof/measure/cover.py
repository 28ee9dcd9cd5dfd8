"""Is the lower face covered - a mask, a scarf, a hand over the mouth and chin?

Why it is measured: both recognizers lose ground on a covered lower face, and masked faces of different people look
alike (docs/calibration.md: under one shared threshold a clean photo against a masked one verified at TAR 0.888,
two clean photos at 0.974, and two masked photos ran at twice the target FAR). So a masked enrolment photo makes a
weak template - the quality gate says ``lower_face_covered`` (:mod:`faceproof.measure.quality`) and enrolment
refuses it - and a masked probe is decided at the thresholds of its own condition
(:mod:`faceproof.decision.calibration`: ``open/covered``), which hold the target FAR there.

How: a linear head (artefact ``lower_face_cover``, fitted by ``faceproof train cover``,
:mod:`faceproof.training.fit_cover`) on the pooled features of the frozen ``crop_backbone`` - the pass the
authenticity detectors run on every face anyway, so the analysis makes it once and hands it on
(:func:`faceproof.authenticity.engine.signal_input`). Its operating threshold was set on held-out uncovered faces of
seven sources (at most 0.5 % of any source above it); its card holds what it finds on real masks it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceproof.authenticity import crop_model
from faceproof.authenticity._region import box_ok
from faceproof.models import artifact

ARTIFACT = "lower_face_cover"


@dataclass(frozen=True)
class CoverReading:
    """The head's verdict on one face and the backbone pass it read (handed on to the authenticity detectors)."""

    score: crop_model.CropScore
    backbone: crop_model.BackboneOutput
    key: tuple

    @property
    def probability(self) -> float:
        """The head's score: the sigmoid of its margin above the operating threshold, 0.5 at the operating point
        (not a calibrated probability)."""
        return self.score.score


def read_cover(rgb: np.ndarray, box: tuple[float, float, float, float]) -> CoverReading | None:
    """Read the face at ``box`` with the shipped cover head (None when the box holds no usable face: the crop
    detectors would not read it either)."""
    if not box_ok(rgb, box):
        return None
    head = artifact.load(ARTIFACT)
    backbone = crop_model.backbone_of(head)
    seen = crop_model.backbone_pass(rgb, box, backbone, head.parameters)
    return CoverReading(crop_model.head_score(head, seen), seen, crop_model.pass_key(backbone, head.parameters))
