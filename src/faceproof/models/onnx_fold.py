"""Make OpenCV-zoo int8 "block-quantized" ONNX files loadable by onnxruntime.

The shipped ``*_int8bq.onnx`` files store weights as constant ``DequantizeLinear`` nodes with ``block_size`` and
carry dangling graph inputs; onnxruntime 1.32 rejects both. Folding each constant dequantisation into an fp32
initializer (what OpenCV's own importer does) gives a graph whose outputs match cv2.dnn to 1e-5 and that runs
1.2x (SFace) to 2.5x (YuNet) faster on one thread. Done in memory at load (~0.2 s); nothing is written to disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx


def fold_block_quantized(path: Path) -> bytes:
    """Return the serialized model with constant DequantizeLinear nodes folded to fp32 weights."""
    return folded_model(path).SerializeToString()


def folded_model(path: Path) -> onnx.ModelProto:
    """The model with constant DequantizeLinear nodes folded to fp32 weights (to edit further before serializing)."""
    import onnx  # imported lazily: only model loading needs it
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    folded: dict[str, np.ndarray] = {}
    kept = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(i in inits for i in node.input if i):
            folded[node.output[0]] = _dequantize(node, inits, helper)
        else:
            kept.append(node)
    used = {i for n in kept for i in n.input} | {o.name for o in graph.output}
    all_inits = {k: v for k, v in {**inits, **folded}.items() if k in used}
    inputs = [i for i in graph.input if i.name in used and i.name not in all_inits]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in all_inits.items())
    del graph.input[:]
    graph.input.extend(inputs)
    return model


def _dequantize(node, inits: dict[str, np.ndarray], helper) -> np.ndarray:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    x = inits[node.input[0]].astype(np.float32)
    scale = inits[node.input[1]]
    has_zero = len(node.input) > 2 and node.input[2]
    zero = inits[node.input[2]].astype(np.float32) if has_zero else np.zeros_like(scale, dtype=np.float32)
    axis = attrs.get("axis", 1) % x.ndim
    block = attrs.get("block_size", 0)
    if scale.size == 1:
        y = (x - zero.reshape(())) * scale.reshape(())
    elif block:
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(0, x.shape[axis])
        index = tuple(sl)
        y = (x - np.repeat(zero, block, axis)[index]) * np.repeat(scale, block, axis)[index]
    else:
        shape = [1] * x.ndim
        shape[axis] = -1
        y = (x - zero.reshape(shape)) * scale.reshape(shape)
    return y.astype(np.float32)
