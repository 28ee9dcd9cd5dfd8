"""Learned generated-face detector: a linear probe on frozen SFace features.

Why a linear probe on a frozen network: Ojha et al., "Towards Universal Fake Image Detectors that Generalize
Across Generative Models" (UnivFD, CVPR 2023) show that a classifier trained end to end on one generator's images
latches onto that generator's specific artefacts and fails on the next, while a *linear* classifier on the frozen
features of a large pretrained network - a feature space that was never shaped to separate real from fake -
generalises across generators far better. No CLIP or deepfake model is available offline here, so the frozen
network is SFace (Zhong et al., "SFace: Sigmoid-constrained hypersphere loss for robust face recognition",
IEEE TIP 2021), the face recognizer already shipped for verification. Its intermediate activations describe
skin texture, eye/teeth detail and shading of the aligned face at several scales; the final identity embedding is
deliberately trained to ignore exactly those nuisances, so the probe reads the intermediate stages (see
``docs/authenticity.md`` for the comparison of layers, the embedding, YuNet's backbone and the hand-crafted
features).

How: the face is aligned to SFace's 112x112 template (so every face is seen at the same scale, whatever the
stored image size - the dev set's generated images are small, its real photos large), one forward pass of the
SFace graph with the chosen intermediate tensors exposed as extra outputs, each tensor global-average pooled per
channel (mean and standard deviation over the spatial grid), standardised, and scored by an L2-regularised
logistic regression. The regression ships as the model artefact ``learned_detector`` (ONNX graph + model card,
:mod:`faceproof.models.artifact`), made by ``faceproof train learned`` (:mod:`faceproof.training.fit_learned`);
the card's parameters name the tapped tensors and pools, the operating threshold and the neutral margin.

Score: ``sigmoid(logit - threshold)``, so 0.5 is the shipped operating point (chosen so that at most 1 % of
augmented real photos, retouched ones included, are flagged in cross-validation).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from faceproof.align import ALIGNED_SIZE, align_face
from faceproof.authenticity._region import box_ok, size_confidence
from faceproof.authenticity.base import Finding, SignalInput
from faceproof.models import artifact
from faceproof.models.lazy import Lazy
from faceproof.models.onnx_fold import fold_block_quantized
from faceproof.models.sface import model_path, ort_session

log = logging.getLogger(__name__)

SIGNAL = "learned"
ARTIFACT = "learned_detector"
#: Eye distance (native pixels) below which the aligned crop is mostly up-sampled blur: no confidence.
MIN_EYE_PX = 10.0
#: Eye distance from which the crop is seen at full resolution (the template's eye distance is ~35 px).
FULL_EYE_PX = 35.0
POOLS = ("mean", "std")


def sface_with_taps(tensors: Sequence[str], path: Path | None = None) -> bytes:
    """The folded fp32 SFace graph with ``tensors`` (intermediate activations) added as graph outputs."""
    import onnx  # only model loading needs it

    model = onnx.load_from_string(fold_block_quantized(path or model_path()))
    existing = {o.name for o in model.graph.output}
    known = {out for node in model.graph.node for out in node.output}
    for name in tensors:
        if name not in known:
            raise ValueError(f"SFace has no tensor named {name!r}")
        if name not in existing:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return model.SerializeToString()


def pool(activation: np.ndarray, pools: Sequence[str]) -> np.ndarray:
    """Channel-wise statistics of one activation: (1, C, H, W) -> (len(pools) * C,); (1, D) -> (D,)."""
    if activation.ndim == 2:
        return activation.reshape(-1).astype(np.float64)
    flat = activation.reshape(activation.shape[1], -1).astype(np.float64)
    stats = {"mean": flat.mean(axis=1), "std": flat.std(axis=1)}
    return np.concatenate([stats[p] for p in pools])


class SFaceTaps:
    """SFace run once per crop, returning the pooled activations of the chosen tensors, concatenated."""

    def __init__(self, tensors: Sequence[str], pools: Sequence[str] = POOLS, path: Path | None = None) -> None:
        self.tensors = tuple(tensors)
        self.pools = tuple(pools)
        self._session: ort.InferenceSession = ort_session(sface_with_taps(self.tensors, path))
        self._input = self._session.get_inputs()[0].name

    def activations(self, aligned_rgb: np.ndarray) -> dict[str, np.ndarray]:
        """Raw activations of the tapped tensors for one 112x112 RGB crop (SFace's own pre-processing)."""
        if aligned_rgb.shape != (ALIGNED_SIZE, ALIGNED_SIZE, 3):
            raise ValueError(f"SFace needs a {ALIGNED_SIZE}x{ALIGNED_SIZE} RGB crop, got {aligned_rgb.shape}")
        blob = aligned_rgb.astype(np.float32).transpose(2, 0, 1)[None]
        outs = self._session.run(list(self.tensors), {self._input: blob})
        return dict(zip(self.tensors, outs, strict=True))

    def features(self, aligned_rgb: np.ndarray) -> np.ndarray:
        acts = self.activations(aligned_rgb)
        return np.concatenate([pool(acts[name], self.pools) for name in self.tensors])

    def feature_names(self) -> list[str]:
        """Names of :meth:`features`' entries, ``tensor.pool[channel]`` (the model card's input contract)."""
        acts = self.activations(np.zeros((ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8))
        names = []
        for t in self.tensors:
            a = acts[t]
            stats = ("",) if a.ndim == 2 else tuple(f".{p}" for p in self.pools)
            names += [f"{t}{st}[{c}]" for st in stats for c in range(a.shape[1])]
        return names


@dataclass(frozen=True)
class _Detector:
    """The probe (an ONNX linear model over the pooled activations) and the SFace taps that feed it.

    ``neutral_margin`` is the ``learned_margin`` reported (with confidence 0) when the face cannot be analysed: the
    median out-of-fold margin of real photos in training, so a fusion model reads it as "no evidence".
    """

    probe: artifact.Artifact
    taps: SFaceTaps
    threshold: float
    neutral_margin: float

    def logit(self, features: np.ndarray) -> float:
        return float(self.probe.run({"x": features[None].astype(np.float64)}, ["logit"])["logit"][0])


def _build() -> _Detector:
    probe = artifact.load(ARTIFACT)
    p = probe.parameters
    return _Detector(
        probe=probe,
        taps=SFaceTaps(p["tensors"], p["pools"]),
        threshold=float(p["threshold"]),
        neutral_margin=float(p["neutral_margin"]),
    )


_detector: Lazy[_Detector] = Lazy(_build)


def neutral_margin() -> float:
    """The margin reported when the detector has nothing to say (see :class:`_Detector`)."""
    return _detector.get().neutral_margin


def probe_features(rgb: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """The pooled SFace activations the probe reads, for the face at ``keypoints`` (what training re-fits on)."""
    crop = align_face(rgb, np.asarray(keypoints, dtype=np.float64))
    return _detector.get().taps.features(crop)


def eye_distance(keypoints: np.ndarray) -> float:
    """Distance between the two eye keypoints (NaN for malformed keypoints)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (5, 2) or not np.isfinite(kp).all():
        return math.nan
    return float(np.hypot(*(kp[0] - kp[1])))


def analyze(inp: SignalInput) -> Finding:
    """Score how much the aligned face looks generated to the linear probe (see the module docstring)."""
    eyes = eye_distance(inp.keypoints)
    if not box_ok(inp.rgb, inp.face_box) or not eyes >= MIN_EYE_PX * 0.5:
        return _empty("no usable face (or keypoints) for the learned detector")
    try:
        detector = _detector.get()
        logit = detector.logit(probe_features(inp.rgb, inp.keypoints))
    except (ValueError, cv2.error, FloatingPointError, OSError, RuntimeError) as exc:
        log.warning("learned detector failed: %s", exc)
        return _empty("learned detector failed on this image")
    if not math.isfinite(logit):
        return _empty("learned detector gave no finite score")
    margin = logit - detector.threshold
    score = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, margin))))
    confidence = min(
        float(np.clip((eyes - MIN_EYE_PX) / (FULL_EYE_PX - MIN_EYE_PX), 0.0, 1.0)),
        size_confidence(max(inp.face_box[2], inp.face_box[3])),
    )
    if score >= 0.5:
        message = f"the face looks AI-generated to the learned detector (margin {margin:+.2f})"
    else:
        message = f"the face looks like a camera photo to the learned detector (margin {margin:+.2f})"
    return Finding(
        signal=SIGNAL,
        score=score,
        confidence=confidence,
        kind="generated",
        message=message,
        features={"learned_margin": margin},
    )


def _empty(message: str) -> Finding:
    return Finding(
        signal=SIGNAL,
        score=0.0,
        confidence=0.0,
        kind="generated",
        message=message,
        features={"learned_margin": neutral_margin()},
    )
