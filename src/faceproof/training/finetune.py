"""Fine-tune a pretrained backbone into a one-logit detector on a CPU, with checkpoints, and export it to ONNX.

Why fine-tune rather than probe: a linear probe on frozen ImageNet features sees what ImageNet needed (objects,
textures), while a blending boundary or a replay's moiré is a low-level, local cue; the self-blended-images
recipe (Shiohara & Yamasaki, CVPR 2022) fine-tunes the whole network on synthetic positives. On 2 cores this
runs at ~25 crops/s at 160 px, so a fit is a few thousand steps; a stopped fit resumes from its last checkpoint.

The exported graph takes what the service has - RGB uint8 crops (N, S, S, 3) cut by
:func:`faceproof.training.faces.cut` - and returns ``logit`` (N,) and ``cam`` (N, S/32, S/32): the last feature
map weighted by the head (a class-activation map, Zhou et al., CVPR 2016), so the service can show *where* the
evidence lies without gradients.
"""

from __future__ import annotations

import io
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from faceproof.training.backbones import EfficientNetLite0, normalise, pretrained_lite0

log = logging.getLogger(__name__)

#: ``sample(rng) -> (crop uint8 (S, S, 3), label 0/1)``: draws one training example (synthesis included).
Sampler = Callable[[np.random.Generator], tuple[np.ndarray, int]]


class Detector(nn.Module):
    """Backbone + dropout + one linear unit on the globally pooled last feature map."""

    def __init__(self, backbone: EfficientNetLite0, dropout: float = 0.2, frozen_stages: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.frozen_stages = frozen_stages
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(backbone._fc.in_features, 1)

    def train(self, mode: bool = True) -> Detector:
        """Frozen stages keep their ImageNet batch-norm statistics too (they stay in eval mode)."""
        super().train(mode)
        if self.frozen_stages:
            b = self.backbone
            for module in (b._conv_stem, b._bn0, *b._blocks[: b.stage_ends[self.frozen_stages - 1] + 1]):
                module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.backbone.feature_map(x, self.frozen_stages)
        return self.head(self.dropout(fmap.mean(dim=(2, 3)))).squeeze(1)


class _Exported(nn.Module):
    """What ONNX gets: uint8-range NHWC in, ``logit`` and ``cam`` out (normalisation inside the graph)."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.detector.backbone.feature_map(normalise(image))
        w = self.detector.head.weight[0]
        cam = torch.einsum("nchw,c->nhw", fmap, w)
        logit = cam.mean(dim=(1, 2)) + self.detector.head.bias[0]
        return logit, cam


class _Stream(IterableDataset):
    def __init__(self, sample: Sampler, seed: int, start: int) -> None:
        self.sample, self.seed, self.start = sample, seed, start

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info else 0
        rng = np.random.default_rng([self.seed, self.start, worker])
        while True:
            crop, label = self.sample(rng)
            yield torch.from_numpy(np.ascontiguousarray(crop)), torch.tensor(float(label))


@dataclass(frozen=True)
class FitConfig:
    steps: int = 900
    batch: int = 32
    lr: float = 1e-3
    backbone_lr_factor: float = 0.5
    weight_decay: float = 1e-4
    seed: int = 20261206
    checkpoint_every: int = 100
    workers: int = 1
    threads: int = 2
    #: The stem and this many of the 7 stages stay at their ImageNet weights (2-3x cheaper steps on a CPU; the
    #: high-resolution stages are where a CPU spends its time).
    frozen_stages: int = 2


def _optimizer(model: Detector, cfg: FitConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        [
            {"params": model.backbone.parameters(), "lr": cfg.lr * cfg.backbone_lr_factor},
            {"params": model.head.parameters(), "lr": cfg.lr},
        ],
        weight_decay=cfg.weight_decay,
    )


def fit(sample: Sampler, cfg: FitConfig, work_dir: Path) -> Detector:
    """Train for ``cfg.steps`` batches (cosine learning rate), checkpointing to ``work_dir/checkpoint.pt``.

    Deterministic given the seed and the sampler, up to torch's CPU kernels; a resumed fit draws a fresh stream
    seeded by its start step, so resuming changes the examples seen but not the recipe.
    """
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt = work_dir / "checkpoint.pt"
    model = Detector(pretrained_lite0(), frozen_stages=cfg.frozen_stages)
    opt = _optimizer(model, cfg)
    start = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = int(state["step"])
        log.info("resuming at step %d", start)
    base = [g["lr"] for g in opt.param_groups]
    loader = DataLoader(_Stream(sample, cfg.seed, start), batch_size=cfg.batch, num_workers=cfg.workers)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    began, running = time.perf_counter(), []
    for step, (x, y) in enumerate(loader, start=start):
        if step >= cfg.steps:
            break
        factor = 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        for g, lr in zip(opt.param_groups, base, strict=True):
            g["lr"] = lr * max(factor, 0.02)
        loss = loss_fn(model(normalise(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(float(loss.detach()))
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1}, ckpt)
            rate = (step + 1 - start) * cfg.batch / (time.perf_counter() - began)
            log.info("step %d/%d loss %.4f (%.1f crops/s)", step + 1, cfg.steps, np.mean(running[-50:]), rate)
    return model.eval()


def load_checkpoint(path: Path) -> Detector:
    model = Detector(EfficientNetLite0())
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    return model.eval()


@torch.no_grad()
def predict(model: Detector, crops: np.ndarray, batch: int = 64) -> np.ndarray:
    """Logits for uint8 crops (N, S, S, 3), in torch (training-time validation)."""
    model.eval()
    out = [model(normalise(torch.from_numpy(crops[i : i + batch]))).numpy() for i in range(0, len(crops), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def to_onnx(model: Detector, size: int) -> bytes:
    """The deployable graph: input ``image`` float32 (N, size, size, 3) in 0..255, outputs ``logit``, ``cam``."""
    wrapped = _Exported(model.eval()).eval()
    buf = io.BytesIO()
    # The "SAME" padding is computed from the input's height and width, which are fixed in the export: the tracer's
    # warning that those become constants is the intent.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            wrapped,
            (torch.zeros(1, size, size, 3),),
            buf,
            input_names=["image"],
            output_names=["logit", "cam"],
            dynamic_axes={"image": {0: "n"}, "logit": {0: "n"}, "cam": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    return buf.getvalue()
