"""SFace's damaged-face view: the shipped fine-tuned trunk runs inside SFace's graph; averaged with SFace's own
vector it embeds damaged faces of real fixture photos closer to SFace's embedding of the undamaged face than SFace
does, and the analysis uses it for a noisy or covered face only; the training stage's torch copy of SFace is SFace
(real models throughout)."""

from __future__ import annotations

import numpy as np
import pytest

from faceproof.align import align_face
from faceproof.analysis import analyze
from faceproof.detect import DetectedFace, detect_faces
from faceproof.measure.identity import identity_view, with_damaged_view
from faceproof.models import sface
from faceproof.models.onnx_fold import folded_model
from faceproof.training.augment import FaceHint, degrade
from tests.conftest import load_rgb

REAL = ("df01_01.jpg", "df01_03.jpg", "df02_01.jpg", "df02_02.jpg", "df03_01.jpg", "df10_01.jpg", "astronaut_01.jpg")


def _damaged(name: str, damage: tuple[str, ...] = (), seed: int = 0) -> tuple[np.ndarray, DetectedFace, np.ndarray]:
    """A fixture photo, its face (detected on the clean photo) and the photo damaged with ``damage``."""
    rgb = load_rgb(name)
    face = detect_faces(rgb)[0]
    return rgb, face, degrade(rgb, damage, seed, FaceHint(face.box, face.keypoints)) if damage else rgb


def _aligned(name: str) -> np.ndarray:
    rgb, face, _ = _damaged(name)
    return align_face(rgb, face.keypoints)


@pytest.mark.parametrize("damage", [("gaussian_blur", "noise"), ("mask",)])
def test_damaged_faces_land_nearer_the_clean_embedding(damage: tuple[str, ...]) -> None:
    """On real fixture photos (people never trained on) SFace's vector averaged with the view's
    (:func:`with_damaged_view`, as the service embeds a noisy or covered face) lies nearer SFace's embedding of the
    clean face than SFace's vector alone: better on average, never clearly worse."""
    plain = sface.get_sface()
    gains = []
    for i, name in enumerate(REAL):
        rgb, face, damaged = _damaged(name, damage, seed=i)
        target = plain.embed(align_face(rgb, face.keypoints))
        alone = plain.embed(align_face(identity_view(damaged, face), face.keypoints))
        gains.append(float(target @ with_damaged_view(alone, damaged, face)) - float(target @ alone))
    assert np.mean(gains) > 0.01 and min(gains) > -0.02, gains


def test_a_clean_face_keeps_its_identity_through_the_view() -> None:
    """The view stays in SFace's space: a clean face's two embeddings agree far above any impostor score."""
    plain, robust = sface.get_sface(), sface.get_sface_robust()
    for name in REAL:
        clean = _aligned(name)
        assert float(plain.embed(clean) @ robust.embed(clean)) > 0.95, name  # 0.981-0.989 when written


def test_the_analysis_uses_the_view_for_noisy_faces_only() -> None:
    rgb = load_rgb("df02_01.jpg")
    clean = analyze(rgb).subject
    assert clean.quality.face_state == "open"
    face = clean.face
    assert np.allclose(clean.embeddings[sface_key()].vector, sface.get_sface().embed(align_face(rgb, face.keypoints)))

    noisy_rgb = degrade(rgb, ("noise",), 3, FaceHint(face.box, face.keypoints))
    noisy = analyze(noisy_rgb).subject
    assert noisy.quality.face_state == "noisy"
    own = sface.get_sface().embed(align_face(identity_view(noisy_rgb, noisy.face), noisy.face.keypoints))
    view = sface.get_sface_robust().embed(align_face(noisy_rgb, noisy.face.keypoints))
    expected = (own + view) / np.linalg.norm(own + view)
    assert np.allclose(noisy.embeddings[sface_key()].vector, expected, atol=1e-6)


def sface_key() -> str:
    return f"{sface.MODEL_NAME}@{sface.MODEL_VERSION}"


def test_weights_must_name_tensors_of_the_graph() -> None:
    model = folded_model(sface.model_path())
    with pytest.raises(ValueError, match="no tensors named"):
        sface.with_weights(model, {"not_a_tensor": np.zeros(3, np.float32)})


def test_the_torch_copy_of_sface_is_sface_and_its_trunk_exports_back() -> None:
    """The training stage's graph interpreter gives SFace's numbers, and a trunk it exports, spliced into SFace's
    graph, gives the torch model's numbers (a seconds-long smoke step changes the weights first)."""
    torch = pytest.importorskip("torch")
    from faceproof.training import fit_sface_robust as fit

    model = fit.student()
    faces = np.stack([_aligned(name) for name in REAL[:4]])
    reference = np.stack([sface.get_sface().features(f) for f in faces])
    with torch.no_grad():
        mine = model(fit.to_tensor(faces)).numpy()
    assert np.abs(mine - reference).max() < 1e-3

    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss = model(fit.to_tensor(faces)).pow(2).mean()
    loss.backward()
    opt.step()
    with torch.no_grad():
        moved = model(fit.to_tensor(faces)).numpy()
    assert np.abs(moved - mine).max() > 1e-3, "the step changed the trunk"

    import onnx
    from onnx import numpy_helper

    trunk = onnx.load_from_string(fit.trunk_graph(model))
    weights = {i.name: numpy_helper.to_array(i) for i in trunk.graph.initializer}
    assert set(weights) == set(fit.trunk_weights(model))
    spliced = sface.SFace(weights=weights)
    exported = np.stack([spliced.features(f) for f in faces])
    assert np.abs(exported - moved).max() < 1e-3


def test_training_faces_come_from_trainable_rows_of_the_training_sources_only() -> None:
    """Evaluation-only sources, LFW (the calibration's people) and excluded photos never reach the fine-tune."""
    pytest.importorskip("torch")
    from faceproof.training import fit_sface_robust as fit
    from faceproof.training.faces import CropSet

    rows = [
        ("utkface", "utkface/a.jpg"),
        ("utkface", "utkface/b.jpg"),  # in an evaluation manifest
        ("allagefaces", "allagefaces/c.jpg"),
        ("real_and_fake_face_real", "real_and_fake_face_real/d.jpg"),  # evaluation only
        ("lfw_gray", "lfw_gray/e.jpg"),
    ]
    n = len(rows)
    crops = CropSet(
        rgb=np.zeros((n, 4, 4, 3), np.uint8),
        landmarks=np.zeros((n, 478, 3), np.float32),
        keypoints=np.zeros((n, 5, 2), np.float32),
        padded=np.zeros(n, np.float32),
        meta=[{"source": s, "path": p, "identity": p} for s, p in rows],
    )
    trainable = {p for s, p in rows if s != "real_and_fake_face_real"}
    kept = fit.select(crops, trainable, excluded={"utkface/b.jpg"})
    assert kept.column("path").tolist() == ["utkface/a.jpg", "allagefaces/c.jpg"]
