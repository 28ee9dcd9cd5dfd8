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
logistic regression. Weights (tensor names, mean, scale, coefficients, intercept, operating threshold) are plain
numbers in ``faceproof/data/learned_detector.json``, made by ``scripts/train_learned.py``.

Score: ``sigmoid(logit - threshold)``, so 0.5 is the shipped operating point (chosen so that at most 1 % of
augmented real photos, retouched ones included, are flagged in cross-validation).
"""

from __future__ import annotations

import importlib.resources
import json
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
from faceproof.models.lazy import Lazy
from faceproof.models.onnx_fold import fold_block_quantized
from faceproof.models.sface import model_path, ort_session

log = logging.getLogger(__name__)

SIGNAL = "learned"
WEIGHTS_FILE = "learned_detector.json"
#: Eye distance (native pixels) below which the aligned crop is mostly up-sampled blur: no confidence.
MIN_EYE_PX = 10.0
#: Eye distance from which the crop is seen at full resolution (the template's eye distance is ~35 px).
FULL_EYE_PX = 35.0
POOLS = ("mean", "std")
#: ``learned_margin`` reported (with confidence 0) when the face cannot be analysed: the median out-of-fold margin
#: of real photos in training, so a fusion model reads it as "no evidence".
NEUTRAL_MARGIN = -11.4


@dataclass(frozen=True)
class ProbeWeights:
    """The trained probe: which SFace tensors, how they are pooled, and the standardised logistic regression."""

    tensors: tuple[str, ...]
    pools: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    version: str

    def logit(self, features: np.ndarray) -> float:
        z = (features - self.mean) / self.scale
        return float(z @ self.coef + self.intercept)


def weights_path() -> Path:
    return Path(str(importlib.resources.files("faceproof") / "data" / WEIGHTS_FILE))


def load_weights(path: Path | None = None) -> ProbeWeights:
    """Read the probe from its JSON file (plain numbers; no pickle)."""
    raw = json.loads((path or weights_path()).read_text())
    return ProbeWeights(
        tensors=tuple(raw["tensors"]),
        pools=tuple(raw["pools"]),
        mean=np.asarray(raw["mean"], np.float64),
        scale=np.asarray(raw["scale"], np.float64),
        coef=np.asarray(raw["coef"], np.float64),
        intercept=float(raw["intercept"]),
        threshold=float(raw["threshold"]),
        version=str(raw["version"]),
    )


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


@dataclass(frozen=True)
class _Detector:
    weights: ProbeWeights
    taps: SFaceTaps


def _build() -> _Detector:
    weights = load_weights()
    return _Detector(weights=weights, taps=SFaceTaps(weights.tensors, weights.pools))


_detector: Lazy[_Detector] = Lazy(_build)


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
        logit = detector.weights.logit(probe_features(inp.rgb, inp.keypoints))
    except (ValueError, cv2.error, FloatingPointError, OSError, RuntimeError) as exc:
        log.warning("learned detector failed: %s", exc)
        return _empty("learned detector failed on this image")
    if not math.isfinite(logit):
        return _empty("learned detector gave no finite score")
    margin = logit - detector.weights.threshold
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
        features={"learned_margin": NEUTRAL_MARGIN},
    )
