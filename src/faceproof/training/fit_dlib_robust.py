"""Fit dlib's damaged-face view: dlib's ResNet fine-tuned so that a blurred, noisy face lands where dlib puts the
same face undamaged - the recipe of SFace's view (:mod:`faceproof.training.fit_sface_robust`), for the second
recognizer.

Why: on a clean photo against a blurred, noisy one the fusion decides (docs/calibration.md), and there dlib is the
weak half: alone it accepts 46 % of genuine pairs at FAR 1e-3 against SFace's 83 %, so what it adds to the fusion
is small. The same distillation that gave SFace its damaged-face view, applied to dlib, lets the second opinion see
through the damage too.

What differs from SFace's fit: dlib cuts its own 150 px chip from the detector's box (its 5-point shape predictor
inside it; the box is jittered instead of keypoints), and dlib's descriptors all share a large common component -
impostors sit at cosine ~0.85, genuine pairs ~0.93 - so the contrastive term reads vectors centred on the clean
embeddings' mean (on raw vectors it spread that component apart and the view left dlib's space: its embedding of a
damaged face fell to cosine 0.75 of the clean one, below any impostor), and the pull toward the clean embedding
weighs 5x, to dlib's narrow range of cosines. Trained: every convolution and affine layer; dlib's input scaling and
its final 256 -> 128 projection (the template space) stay dlib's.

Export: dlib's whole graph (as :mod:`faceproof.models.dlib_onnx` rebuilds it) with the trained weights: artefact
``dlib_robust``, run on dlib's chip of the photo itself for a face read as noisy and averaged with dlib's own
vector (:func:`faceproof.measure.identity.dlib_embedding`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from faceproof.models import dlib_resnet
from faceproof.training.fit_sface_robust import JITTER, Recognizer
from faceproof.training.onnx_torch import GraphModule

MODEL_NAME = dlib_resnet.ROBUST_ARTIFACT
VERSION = "1"
#: Weight of 1 - cosine to the clean embedding (SFace's view: 1): dlib's genuine and impostor cosines lie ~0.1 apart.
PULL = 5.0


def student() -> GraphModule:
    """dlib's network as a trainable graph; its input scaling (the nodes before the first convolution) and the final
    projection (the template space) frozen, and the integer paddings with them."""
    graph = dlib_resnet.network_graph()
    model = GraphModule(graph)
    first_conv = next(i for i, n in enumerate(graph.graph.node) if n.op_type == "Conv")
    fixed = {i for n in graph.graph.node[:first_conv] for i in n.input}
    fixed |= {i for n in graph.graph.node if n.op_type == "MatMul" for i in n.input}
    model.freeze(n for n in model.onnx_names if n in fixed)
    return model


def chip_cut(
    rgb: np.ndarray, kp: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator | None
) -> np.ndarray:
    """dlib's 150 px chip of the face in ``box``, the box jittered by :data:`JITTER` of its width when ``rng`` is
    given (a detector's box on a damaged photo)."""
    if rng is not None:
        x, y, w, h = box
        dx, dy, dw, dh = rng.normal(0.0, JITTER * w, 4)
        box = (x + dx, y + dy, w + dw, h + dh)
    return dlib_resnet.get_dlib_resnet().chip(rgb, box)


def _teacher(chip: np.ndarray) -> np.ndarray:
    return dlib_resnet.get_dlib_resnet().describe(chip)


def graph_with(model: GraphModule) -> bytes:
    """dlib's graph with the trained weights (float initializers replaced by name; paddings and shapes kept)."""
    graph = dlib_resnet.network_graph()
    trained = model.arrays()
    for init in graph.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and init.name in trained:
            init.CopyFrom(numpy_helper.from_array(trained[init.name].astype(np.float32), init.name))
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


DLIB = Recognizer(
    name=MODEL_NAME,
    version=VERSION,
    student=student,
    cut=chip_cut,
    teacher=_teacher,
    export=graph_with,
    card={
        "task": "dlib's ResNet fine-tuned on damaged faces (its damaged-face view, in dlib's template space)",
        "inputs": {"chip": "(1, 3, 150, 150) float32 RGB 0-255, dlib's face chip (5-point shape, padding 0.25)"},
        "outputs": {"descriptor": "(1, 128) float32: compared with dlib's templates after normalising"},
        "parameters": {
            "replaces": f"{dlib_resnet.MODEL_NAME}@{dlib_resnet.MODEL_VERSION}",
            "used_for": "faces read as noisy, averaged with dlib's own vector",
        },
        "licence": "dlib's ResNet (public domain) fine-tuned on research-only face data: research use only",
    },
    pull=PULL,
    centred=True,
)
