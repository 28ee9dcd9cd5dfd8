"""Export: the learned numbers of a fit become an ONNX graph, and its provenance a model card.

Why ONNX for models as small as a logistic regression: one artefact format and one loader
(:mod:`faceproof.models.artifact`) serve every learned model, whatever trained it, and the graph carries no code -
unlike a pickle, loading it cannot execute anything. The graphs are built with ``onnx.helper`` from plain arrays,
so exporting needs neither torch nor skl2onnx.

Every model faceproof ships today is a *standardised linear model*, ``logit = intercept + sum(coef * (x - mean) /
scale)``; the graph also outputs the per-feature ``terms`` of that sum so that callers can still report which
feature pushed a score up (the fusion's contributions). A model made of several such models over one feature
vector (the fusion's one model per kind of fake; verification's SFace-only, dlib-only and fused scores) is ONE
graph with one ``logit_<head>`` / ``terms_<head>`` pair per head, each head reading its own columns of the shared
input ``x``: one artefact per shipped model, one ``session.run`` per image, and no head can be updated without
the others it was calibrated with.

The crop detectors are heads of another shape: a linear read-out of the shared backbone's pooled features plus
its class-activation map (:func:`crop_head_graph`); the backbone itself is a torch export
(:mod:`faceproof.training.probe`), the one graph here that needs torch.

Precision: ``float32`` is the default input type; the models ported from the former JSON files are exported as
``float64`` because the service computed them in double precision and their outputs (thresholded scores) must
not move.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from faceproof.models import artifact

OPSET = 17
#: The numpy dtypes a graph may take, with their ONNX element type and the name the card shows.
_DTYPES: dict[np.dtype, tuple[int, str]] = {
    np.dtype(np.float32): (TensorProto.FLOAT, "float32"),
    np.dtype(np.float64): (TensorProto.DOUBLE, "float64"),
}
#: Card fields an exported model must fill: a card that cannot say what data and seed made the weights, or under
#: which licences they and the data may be used, does not ship.
REQUIRED_TRAINING = ("data", "seed")
REQUIRED_LICENCE = ("weights", "data")


@dataclass(frozen=True)
class LinearHead:
    """One standardised linear model over ``features`` (a subset of the graph's input columns).

    ``name`` suffixes the head's output tensors (``logit_<name>``, ``terms_<name>``); the single head of
    :func:`linear_model_graph` has the empty name and plain ``logit`` / ``terms``.
    """

    name: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (np.size(self.mean) == np.size(self.scale) == np.size(self.coef) == n):
            raise ValueError(f"head {self.name!r}: mean, scale and coef need one value per feature ({n})")
        if not np.all(np.asarray(self.scale) > 0):
            raise ValueError(f"head {self.name!r}: every scale must be > 0 (replace a constant feature's 0 by 1)")

    @property
    def logit(self) -> str:
        return f"logit_{self.name}" if self.name else "logit"

    @property
    def terms(self) -> str:
        return f"terms_{self.name}" if self.name else "terms"


def linear_model_graph(
    features: Sequence[str],
    mean: np.ndarray,
    scale: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    name: str,
    dtype: type[np.floating] = np.float32,
) -> bytes:
    """One standardised linear model: input ``x`` [N, F], outputs ``logit`` [N] and ``terms`` [N, F]."""
    head = LinearHead("", tuple(features), np.asarray(mean), np.asarray(scale), np.asarray(coef), float(intercept))
    return linear_heads_graph(features, [head], name, dtype)


def linear_heads_graph(
    features: Sequence[str], heads: Sequence[LinearHead], name: str, dtype: type[np.floating] = np.float32
) -> bytes:
    """Several standardised linear models over one input ``x`` [N, F] (columns ``features``), each head reading
    its own columns: outputs ``logit_<head>`` [N] and ``terms_<head>`` [N, F_head] per head."""
    features = list(features)
    if len(set(features)) != len(features):
        raise ValueError("feature names must be unique")
    elem, _ = _DTYPES[np.dtype(dtype)]
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = [numpy_helper.from_array(np.array([1], np.int64), "sum_axis")]
    outputs: list[onnx.ValueInfoProto] = []
    for head in heads:
        missing = set(head.features) - set(features)
        if missing:
            raise ValueError(f"head {head.name!r} reads features the input lacks: {sorted(missing)}")
        p = f"{head.name}_" if head.name else ""
        source = "x"
        if list(head.features) != features:  # a head over a subset of the columns gathers them first
            columns = np.array([features.index(f) for f in head.features], np.int64)
            inits.append(numpy_helper.from_array(columns, f"{p}columns"))
            nodes.append(helper.make_node("Gather", ["x", f"{p}columns"], [f"{p}x"], axis=1))
            source = f"{p}x"
        for field, values in (("mean", head.mean), ("scale", head.scale), ("coef", head.coef)):
            inits.append(numpy_helper.from_array(np.asarray(values, dtype).reshape(-1), f"{p}{field}"))
        inits.append(numpy_helper.from_array(np.array(head.intercept, dtype), f"{p}intercept"))
        nodes += [
            helper.make_node("Sub", [source, f"{p}mean"], [f"{p}centred"]),
            helper.make_node("Div", [f"{p}centred", f"{p}scale"], [f"{p}z"]),
            helper.make_node("Mul", [f"{p}z", f"{p}coef"], [head.terms]),
            helper.make_node("ReduceSum", [head.terms, "sum_axis"], [f"{p}dot"], keepdims=0),
            helper.make_node("Add", [f"{p}dot", f"{p}intercept"], [head.logit]),
        ]
        outputs += [
            helper.make_tensor_value_info(head.logit, elem, ["N"]),
            helper.make_tensor_value_info(head.terms, elem, ["N", len(head.features)]),
        ]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", elem, ["N", len(features)])], outputs, initializer=inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceproof")
    model.doc_string = f"{name}: standardised linear model(s) {[h.name or name for h in heads]}"
    helper.set_model_props(model, {"features": json.dumps(features)})
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def linear_contract(
    features: Sequence[str], heads: Sequence[LinearHead], dtype: type[np.floating], meaning: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The card's ``inputs`` and ``outputs`` of a linear graph; ``meaning`` says what a logit is."""
    _, kind = _DTYPES[np.dtype(dtype)]
    inputs = {"x": f"{kind} [N, {len(features)}]: one row per sample, columns as the card's parameters list them"}
    outputs: dict[str, str] = {}
    for h in heads:
        label = f" of {h.name}" if h.name else ""
        outputs[h.logit] = f"{kind} [N]: {meaning}{label}"
        outputs[h.terms] = f"{kind} [N, {len(h.features)}]: coef * (x - mean) / scale per feature{label}"
    return inputs, outputs


def crop_head_graph(weight: np.ndarray, bias: float, cam: slice, name: str, views: int = 1) -> bytes:
    """A linear head on the crop backbone's outputs: ``logit = features @ weight + bias`` [N] and ``cam``
    [N, H, W], the weights of the last stage's channel means (``weight[cam]``) applied to ``feature_map``
    [N, C, H, W] at every position.

    Why the CAM reads a slice of ``weight`` rather than weights of its own: it is by construction the probe's own
    evidence, spread over the map. MatMul, Add and Einsum are the operators the former single-graph export used,
    so ported heads give its outputs bit for bit.

    A head on ``views`` > 1 views of the face reads the backbone's pooled features of each (``features``, then
    ``features_1`` ...; ``weight`` holds their coefficients in that order) and draws its map on the first view's
    ``feature_map`` (``cam`` indexes the first view's part of ``weight``).
    """
    weight = np.asarray(weight, np.float32).reshape(-1)
    if views < 1 or weight.size % views:
        raise ValueError(f"{weight.size} weights do not split into {views} views")
    channels = len(range(*cam.indices(weight.size // views)))
    inits = [
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(np.array([bias], np.float32), "bias"),
        numpy_helper.from_array(np.array([cam.start], np.int64), "cam_start"),
        numpy_helper.from_array(np.array([cam.stop], np.int64), "cam_stop"),
    ]
    extra_inputs = [f"features_{i}" for i in range(1, views)]
    read = "all_features" if extra_inputs else "features"
    nodes = [helper.make_node("Concat", ["features", *extra_inputs], [read], axis=1)] if extra_inputs else []
    nodes += [
        helper.make_node("MatMul", [read, "weight"], ["dot"]),
        helper.make_node("Add", ["dot", "bias"], ["logit"]),
        helper.make_node("Slice", ["weight", "cam_start", "cam_stop"], ["cam_weight"]),
        helper.make_node("Einsum", ["feature_map", "cam_weight"], ["cam"], equation="nchw,c->nhw"),
    ]
    elem = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        name,
        [
            helper.make_tensor_value_info("features", elem, ["N", weight.size // views]),
            helper.make_tensor_value_info("feature_map", elem, ["N", channels, "H", "W"]),
            *(helper.make_tensor_value_info(f, elem, ["N", weight.size // views]) for f in extra_inputs),
        ],
        [
            helper.make_tensor_value_info("logit", elem, ["N"]),
            helper.make_tensor_value_info("cam", elem, ["N", "H", "W"]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceproof")
    model.doc_string = f"{name}: linear head on the crop backbone's pooled features, with its activation map"
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def write_artifact(
    model_bytes: bytes,
    *,
    name: str,
    version: str,
    task: str,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    parameters: Mapping[str, Any],
    training: Mapping[str, Any],
    metrics: Mapping[str, Any],
    licence: Mapping[str, str],
    directory: Path | None = None,
    created: str | None = None,
    requires: Mapping[str, str] | None = None,
) -> Path:
    """Write ``NAME.onnx`` and its card (default: into the package's models), refusing an incomplete card;
    ``requires``: the artefacts the graph runs on, name -> ONNX sha256 (:class:`~faceproof.models.artifact.
    ModelCard`)."""
    lacking = [f"training.{k}" for k in REQUIRED_TRAINING if k not in training]
    lacking += [f"licence.{k}" for k in REQUIRED_LICENCE if k not in licence]
    if lacking or not metrics:
        raise ValueError(f"model card of {name!r} is incomplete: {', '.join(lacking) or 'no metrics'}")
    card = artifact.ModelCard(
        name=name,
        version=version,
        task=task,
        onnx_sha256="",  # set by artifact.save from the bytes
        inputs=dict(inputs),
        outputs=dict(outputs),
        parameters=dict(parameters),
        training=dict(training),
        metrics=dict(metrics),
        licence=dict(licence),
        created=created or datetime.now(UTC).isoformat(timespec="seconds"),
        requires=dict(requires or {}),
    )
    return artifact.save(model_bytes, card, directory or artifact.models_dir())
