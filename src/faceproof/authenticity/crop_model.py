"""Run a learned crop detector (a fine-tuned backbone shipped as ONNX + card) on one face, and say what it saw.

Why one runner for every such detector: each learns from the same kind of input - a square crop with context about
the detected face (:func:`faceproof.align.context_crop`), first cut at the training cache's size and context, then
re-cut to the network's view - and each must see in service exactly what it saw in training. The card holds
that recipe (``cache_size``, ``cache_context``, ``input_size``, ``context``) and the operating threshold, set on
held-out real photos so that ``threshold_share`` of them are flagged; the finding's score is the sigmoid of the
margin above that threshold, so 0.5 is the operating point whatever the detector.

The graph also returns a class-activation map (the last feature map weighted by the head): where in the crop the
evidence lies, mapped back to image pixels for the overlay.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from faceproof.align import context_crop
from faceproof.authenticity._region import box_ok, size_confidence
from faceproof.authenticity.base import FakeKind, Finding, SignalInput
from faceproof.models import artifact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropScore:
    """A detector's verdict on one face: ``margin`` = logit - operating threshold; ``cam`` (h, w) over the view,
    whose corners map to image pixels through ``view_to_image`` (2x3)."""

    margin: float
    cam: np.ndarray
    view_to_image: np.ndarray

    @property
    def score(self) -> float:
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, self.margin))))


def view(rgb: np.ndarray, box: tuple[float, float, float, float], params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The network input for the face at ``box`` and the 2x3 map from input pixels back to image pixels."""
    cache, m1 = context_crop(rgb, box, int(params["cache_size"]), float(params["cache_context"]))
    face = params["cache_size"] / params["cache_context"]
    lo = (params["cache_size"] - face) / 2.0
    crop, m2 = context_crop(cache, (lo, lo, face, face), int(params["input_size"]), float(params["context"]))
    to_image = np.linalg.inv(np.vstack([_compose(m2, m1), [0, 0, 1]]))[:2]
    return crop, to_image


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def run(name: str, rgb: np.ndarray, box: tuple[float, float, float, float]) -> CropScore:
    """Score the face at ``box`` with the shipped detector ``name``."""
    model = artifact.load(name)
    crop, to_image = view(rgb, box, model.parameters)
    out = model.run({"image": crop[None].astype(np.float32)})
    margin = float(out["logit"][0]) - float(model.parameters["threshold_logit"])
    return CropScore(margin=margin, cam=out["cam"][0], view_to_image=to_image)


@dataclass(frozen=True)
class CropSignal:
    """A crop detector as an authenticity signal: which model, what it is called, what kind of fake it finds,
    the feature name of its margin, and what it says either side of its threshold (``{margin}`` is filled in)."""

    model: str
    signal: str
    kind: FakeKind
    feature: str
    flagged: str
    clear: str

    def analyze(self, inp: SignalInput) -> Finding:
        if not box_ok(inp.rgb, inp.face_box):
            return self._empty(f"no usable face for the {self.signal} detector")
        try:
            result = run(self.model, inp.rgb, inp.face_box)
        except (ValueError, cv2.error, RuntimeError) as exc:
            log.warning("%s failed: %s", self.model, exc)
            return self._empty(f"the {self.signal} detector failed on this image")
        if not math.isfinite(result.margin):
            return self._empty(f"the {self.signal} detector gave no finite score")
        template = self.flagged if result.score >= 0.5 else self.clear
        return Finding(
            signal=self.signal,
            score=result.score,
            confidence=size_confidence(max(inp.face_box[2], inp.face_box[3])),
            kind=self.kind,
            message=template.format(margin=f"{result.margin:+.2f}"),
            features={self.feature: result.margin},
        )

    def _empty(self, message: str) -> Finding:
        return Finding(signal=self.signal, score=0.0, confidence=0.0, kind=self.kind, message=message, features={})
