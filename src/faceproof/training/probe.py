"""A linear probe on frozen, multi-stage pooled backbone features (UnivFD-style), exported as one ONNX graph.

Why a probe next to fine-tuning: Ojha et al. (UnivFD, CVPR 2023) show that a linear classifier on a frozen
pretrained network's features generalises across sources where an end-to-end fit learns its training set. Here
it is also what a 2-core CPU can afford: features are one forward pass per crop (no backward), and the fit is a
logistic regression. Pooling every stage of EfficientNet-Lite0 (channel mean and standard deviation at the end of
each of its 7 stages, then the head's 1280 channels: 4128 numbers) keeps low-level statistics (texture, colour,
grid patterns) beside the semantic ones, which a replay or a generator changes.

The exported graph folds the standardisation into the linear layer, so the service runs one graph: uint8-range
crop in, ``logit`` out, plus a coarse ``cam`` - the probe's weights on the last stage's channel means applied at
every position - to show where the evidence lies.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from faceproof.training.backbones import EfficientNetLite0, normalise, pretrained_lite0

#: Inverse regularisation strength of the probe (the stronger of the two tried: 0.01 and 0.1 gave the same AUCs
#: within 0.005 on held-out NUAA people, 0.01 flagged fewer real photos).
PROBE_C = 0.01


class PooledStages(nn.Module):
    """uint8-range NHWC crops -> per-stage channel means and standard deviations, concatenated."""

    def __init__(self, backbone: EfficientNetLite0) -> None:
        super().__init__()
        self.backbone = backbone.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        outs = self.backbone.stages(normalise(image))
        return torch.cat([torch.cat([o.mean(dim=(2, 3)), o.std(dim=(2, 3))], 1) for o in outs], 1)


class _ProbeGraph(nn.Module):
    def __init__(self, pooled: PooledStages, weight: np.ndarray, bias: float) -> None:
        super().__init__()
        self.pooled = pooled
        self.weight = nn.Parameter(torch.tensor(weight, dtype=torch.float32), requires_grad=False)
        self.bias = nn.Parameter(torch.tensor([bias], dtype=torch.float32), requires_grad=False)
        last = pooled.backbone._bn1.num_features
        self.last_mean = slice(weight.size - 2 * last, weight.size - last)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = self.pooled.backbone.stages(normalise(image))
        feats = torch.cat([torch.cat([o.mean(dim=(2, 3)), o.std(dim=(2, 3))], 1) for o in outs], 1)
        logit = feats @ self.weight + self.bias
        cam = torch.einsum("nchw,c->nhw", outs[-1], self.weight[self.last_mean])
        return logit, cam


def _export(module: nn.Module, size: int, outputs: list[str]) -> bytes:
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # "SAME" padding is fixed for the exported size
        torch.onnx.export(
            module,
            (torch.zeros(1, size, size, 3),),
            buf,
            input_names=["image"],
            output_names=outputs,
            dynamic_axes={name: {0: "n"} for name in ["image", *outputs]},
            opset_version=17,
            dynamo=False,
        )
    return buf.getvalue()


def feature_graph(size: int) -> bytes:
    """The frozen feature extractor alone (for computing training features with onnxruntime)."""
    return _export(PooledStages(pretrained_lite0()).eval(), size, ["features"])


def features(graph: bytes, crops: np.ndarray, batch: int = 32, threads: int = 2) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
    return np.concatenate(
        [session.run(None, {"image": crops[i : i + batch].astype(np.float32)})[0] for i in range(0, len(crops), batch)]
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

    def to_onnx(self, size: int) -> bytes:
        """Backbone + probe as one graph (standardisation folded in): ``image`` -> ``logit``, ``cam``."""
        weight = self.coef / self.scale
        bias = self.intercept - float(np.sum(self.coef * self.mean / self.scale))
        graph = _ProbeGraph(PooledStages(pretrained_lite0()), weight, bias).eval()
        return _export(graph, size, ["logit", "cam"])
