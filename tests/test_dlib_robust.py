"""dlib's damaged-face view: the shipped fine-tuned network, averaged with dlib's own descriptor, puts blurred, noisy
faces of real fixture photos nearer dlib's descriptor of the undamaged face than dlib alone does; the analysis uses
it for a noisy face only; the training stage's torch copy of dlib's network is dlib's, and what it exports runs as
the artefact (real models throughout)."""

from __future__ import annotations

import numpy as np
import pytest

from faceproof.analysis import analyze
from faceproof.detect import detect_faces
from faceproof.measure.identity import dlib_embedding, identity_view
from faceproof.models import dlib_resnet
from faceproof.training.augment import FaceHint, degrade
from tests.conftest import load_rgb

REAL = ("df01_01.jpg", "df01_03.jpg", "df02_01.jpg", "df02_02.jpg", "df03_01.jpg", "df10_01.jpg", "astronaut_01.jpg")


def test_noisy_faces_land_nearer_the_clean_descriptor() -> None:
    """On real fixture photos (people never trained on), blurred and noisy: the mean with the view's descriptor (as
    the service embeds a noisy face) lies nearer dlib's descriptor of the clean face than dlib's own (smoothed view)
    descriptor - better on average, never clearly worse."""
    model = dlib_resnet.get_dlib_resnet()
    gains = []
    for i, name in enumerate(REAL):
        rgb = load_rgb(name)
        face = detect_faces(rgb)[0]
        damaged = degrade(rgb, ("gaussian_blur", "noise"), i, FaceHint(face.box, face.keypoints))
        target = model.embed(rgb, face.box)
        alone = dlib_embedding(damaged, face).vector
        mixed = dlib_embedding(damaged, face, state="noisy").vector
        gains.append(float(target @ mixed) - float(target @ alone))
    assert np.mean(gains) > 0.002 and min(gains) > -0.01, gains


def test_the_analysis_uses_the_view_for_noisy_faces_only() -> None:
    rgb = load_rgb("df02_01.jpg")
    key = f"{dlib_resnet.MODEL_NAME}@{dlib_resnet.MODEL_VERSION}"
    clean = analyze(rgb).subject
    assert clean.quality.face_state == "open"
    assert np.allclose(clean.embeddings[key].vector, dlib_resnet.get_dlib_resnet().embed(rgb, clean.face.box))

    face = clean.face
    noisy_rgb = degrade(rgb, ("noise",), 3, FaceHint(face.box, face.keypoints))
    noisy = analyze(noisy_rgb).subject
    assert noisy.quality.face_state == "noisy"
    model = dlib_resnet.get_dlib_resnet()
    own = model.embed(identity_view(noisy_rgb, noisy.face), noisy.face.box)
    view = dlib_resnet.robust_descriptor(model.chip(noisy_rgb, noisy.face.box))
    assert float(own @ view) > 0.9  # the view stays in dlib's space
    expected = (own + view) / np.linalg.norm(own + view)
    assert np.allclose(noisy.embeddings[key].vector, expected, atol=1e-6)


def test_the_torch_copy_of_dlib_is_dlib_and_exports_back() -> None:
    """The graph interpreter gives dlib's descriptors (residual adds, pooling, zero-padded shortcuts), only the
    intended weights train, and the exported graph gives the torch model's numbers after a smoke step."""
    torch = pytest.importorskip("torch")
    import onnx

    from faceproof.models.runtime import ort_session
    from faceproof.training import fit_dlib_robust as fit
    from faceproof.training.fit_sface_robust import to_tensor

    model = fit.student()
    dlib = dlib_resnet.get_dlib_resnet()
    chips = np.stack([dlib.chip(load_rgb(n), detect_faces(load_rgb(n))[0].box) for n in REAL[:3]])
    reference = np.stack([dlib.describe(c) for c in chips])
    with torch.no_grad():
        raw = model(to_tensor(chips)).numpy()
    mine = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert np.abs(mine - reference).max() < 1e-4

    graph = dlib_resnet.network_graph()
    projection = next(n.input[1] for n in graph.graph.node if n.op_type == "MatMul")
    trainable = {n for n in model.onnx_names if model.weight(n).requires_grad}
    assert projection not in trainable and "w_0" not in trainable and len(trainable) > 50

    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(to_tensor(chips)).pow(2).mean().backward()
    opt.step()
    with torch.no_grad():
        moved = model(to_tensor(chips)).numpy()
    assert np.abs(moved - raw).max() > 1e-3, "the step changed the network"
    exported = ort_session(fit.graph_with(model))
    blobs = [c.astype(np.float32).transpose(2, 0, 1)[None] for c in chips]
    out = np.concatenate([exported.run(None, {"chip": b})[0] for b in blobs])
    assert np.abs(out - moved).max() < 1e-3 * np.abs(moved).max()
    assert onnx.load_from_string(fit.graph_with(model)).graph.output[0].name == "descriptor"
