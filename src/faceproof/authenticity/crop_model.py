"""Run a learned crop detector (a probe head on the shared crop backbone, each shipped as ONNX + card) on one face,
and say what it saw.

Why one runner for every such detector: each learns from the same kind of input - a square crop with context about
the detected face (:func:`faceproof.align.context_crop`), first cut at the training cache's size and context, then
re-cut to the network's view - and each must see in service exactly what it saw in training. The card holds
that recipe (``cache_size``, ``cache_context``, ``input_size``, ``context``) and the operating threshold, set on
held-out real photos so that ``threshold_share`` of them are flagged; the finding's score is the sigmoid of the
margin above that threshold, so 0.5 is the operating point whatever the detector.

Why a head may read more than one view: the generated-face head reads the face at two crop sides (1.5 and 1.15
face sizes, card parameter ``extra_contexts``): the tight view gives the skin's texture more of the network's
pixels, and the two together generalised to left-out generators better than either (docs/authenticity.md).

Why the backbone runs once per face and view: every detector is a head of a few kilobytes on one frozen
EfficientNet-Lite0 (``crop_backbone``, pinned by sha256 in each head's card and resolved by the loader), and the
backbone's pass is nearly all of a detector's cost. Its outputs for a face are memoised on that face's
:class:`~faceproof.authenticity.base.SignalInput` (:class:`~faceproof.authenticity.base.Memo`), keyed by the backbone
and the view recipe: the second detector with the same recipe reads them, a head that asked for another view would get
its own pass, and nothing outlives the input - no process-wide cache keyed on image arrays, nothing kept across
requests.

The head also returns a class-activation map (the last feature map weighted by the probe): where in the crop the
evidence lies. The finding carries it (:class:`~faceproof.authenticity.base.Activation`, with the map from the view
back to image pixels), so an evidence picture (:mod:`faceproof.authenticity.evidence`) needs no second pass.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from faceproof.align import context_crop
from faceproof.authenticity._region import box_ok, size_confidence
from faceproof.authenticity.base import Activation, FakeKind, Finding, SignalInput
from faceproof.models import artifact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropScore:
    """A detector's verdict on one face: ``margin`` = logit - operating threshold, and where it saw it."""

    margin: float
    activation: Activation

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


#: The card parameters that say which view of the face a head reads.
VIEW = ("cache_size", "cache_context", "input_size", "context")


@dataclass(frozen=True)
class BackboneOutput:
    """The backbone's outputs for one face view (``outputs``: its output name -> array, the heads' inputs) and
    the 2x3 map from view pixels back to image pixels."""

    outputs: dict[str, np.ndarray]
    view_to_image: np.ndarray


def backbone_of(head: artifact.Artifact) -> artifact.Artifact:
    """The backbone a head runs on: the one artefact its card requires (loaded and sha256-checked with it)."""
    if len(head.requires) != 1:
        raise artifact.ArtifactError(f"{head.card.name!r} is no crop head: it requires {sorted(head.requires)}")
    (backbone,) = head.requires.values()
    return backbone


def pass_key(backbone: artifact.Artifact, params: dict) -> tuple:
    """What identifies a backbone pass over a face: the backbone and the view recipe (the memo's key)."""
    return (backbone.card.name, backbone.card.onnx_sha256, *(params[k] for k in VIEW))


def backbone_pass(
    rgb: np.ndarray, box: tuple[float, float, float, float], backbone: artifact.Artifact, params: dict
) -> BackboneOutput:
    """The backbone's pass over the face at ``box`` as ``params`` cut it."""
    crop, to_image = view(rgb, box, params)
    return BackboneOutput(backbone.run({"image": crop[None].astype(np.float32)}), to_image)


def backbone_output(inp: SignalInput, backbone: artifact.Artifact, params: dict) -> BackboneOutput:
    """The backbone's pass over the face of ``inp`` as ``params`` cut it, computed once per input and recipe (the
    analysis may have put it there already: the lower-face cover head reads the same pass)."""
    return inp.memo.get(pass_key(backbone, params), lambda: backbone_pass(inp.rgb, inp.face_box, backbone, params))


def extra_views(params: dict) -> list[dict]:
    """The recipes of the further views a head reads besides its own (card parameter ``extra_contexts``: the same
    cut at other crop sides, in face sizes); each view's pooled features feed the head as ``features_1`` ..."""
    return [{**params, "context": float(c)} for c in params.get("extra_contexts", ())]


def head_score(head: artifact.Artifact, seen: BackboneOutput, extra: Sequence[BackboneOutput] = ()) -> CropScore:
    """A head's verdict on a backbone pass (and on the passes of its :func:`extra_views`, in order): its logit
    against its operating threshold, and where it looked (on the first view)."""
    feeds = seen.outputs | {f"features_{i}": e.outputs["features"] for i, e in enumerate(extra, 1)}
    out = head.run(feeds)
    margin = float(out["logit"][0]) - float(head.parameters["threshold_logit"])
    activation = Activation(
        cam=out["cam"][0], view_to_image=seen.view_to_image, view_size=int(head.parameters["input_size"])
    )
    return CropScore(margin=margin, activation=activation)


def run(name: str, inp: SignalInput) -> CropScore:
    """Score the face of ``inp`` with the shipped detector ``name``."""
    head = artifact.load(name)
    backbone = backbone_of(head)
    extra = [backbone_output(inp, backbone, params) for params in extra_views(head.parameters)]
    return head_score(head, backbone_output(inp, backbone, head.parameters), extra)


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
            result = run(self.model, inp)
        except artifact.ArtifactError:
            raise  # a broken installation (a head on another backbone) is no property of this image
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
            activation=result.activation,
        )

    def _empty(self, message: str) -> Finding:
        return Finding(signal=self.signal, score=0.0, confidence=0.0, kind=self.kind, message=message, features={})
