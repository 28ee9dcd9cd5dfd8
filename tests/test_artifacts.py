"""The one model format: every shipped artefact loads and matches its card, the ported models give their
documented outputs on real fixture images through the real pipeline, and a fit can export, save and read back a
model whose logit is numpy's.

The expected values on the fixtures were recorded from the former JSON models before the port (the ONNX graphs
reproduce them to ~1e-14, see the port's commit); they pin the graphs, the cards' parameters and the callers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from functools import lru_cache

import numpy as np
import onnx
import pytest

import faceproof
from faceproof.authenticity import blending, fusion, generated_net, learned
from faceproof.authenticity.engine import feature_values, measure_signals, signal_input
from faceproof.decision import calibration
from faceproof.models import artifact, registry, sface
from faceproof.training import export
from tests.conftest import FIXTURES

SHIPPED = {learned.ARTIFACT, blending.ARTIFACT, fusion.ARTIFACT, calibration.ARTIFACT, sface.ROBUST_ARTIFACT}
#: Outputs of the former JSON models on fixture images: learned margin, blending probability, fused probability.
#: The graphs equal the JSON models to ~1e-14; the learned margin (and the fused probability through it) moved
#: once since the port, when faces began to be aligned with keypoints refined by the mesh
#: (:mod:`faceproof.models.mesh_keypoints`; before: -22.858877, -1.855799, 2.489492 and fused 0.213899, 0.777819),
#: and by < 1e-3 when YuNet moved from OpenCV's runner to ONNX Runtime (boxes within 1e-4 px, through the mesh;
#: before: -22.815522, -1.595203, 2.976057 and fused 0.231093, 0.808245).
DOCUMENTED = {
    "df01_01.jpg": (-22.815719, 0.453983, 0.072240),
    "stylegan2_001.jpg": (-1.595383, 0.560314, 0.231081),
    "diffusion_001.jpg": (2.975214, 0.208075, 0.808195),
}


@lru_cache(maxsize=4)
def outputs(name: str) -> tuple[float, float, float]:
    a = faceproof.analyze(FIXTURES / name)
    findings = measure_signals(a)
    inp = signal_input(a)
    # the graph as ported; the corpus operating point (kind_offsets) is applied on top of it, tested below
    fused = replace(fusion.load_fusion(), kind_offsets={}).evaluate(feature_values(findings))
    return (
        learned.analyze(inp).features["learned_margin"],
        blending.analyze(inp).features["blend_prob"],
        fused.fake_probability,
    )


def test_every_shipped_card_loads_and_matches_its_graph() -> None:
    cards = {c.name: c for c in artifact.shipped()}
    assert set(cards) >= SHIPPED
    for name, card in cards.items():
        onnx_bytes = (artifact.models_dir() / f"{name}.onnx").read_bytes()
        assert hashlib.sha256(onnx_bytes).hexdigest() == card.onnx_sha256
        model = artifact.load(name)
        assert artifact.is_loaded(name)
        assert set(model.input_names) == set(card.inputs) and set(model.output_names) == set(card.outputs)
        assert card.licence.get("weights") and card.licence.get("data")
        assert card.training.get("data") and card.training.get("seed") and card.metrics
        onnx.checker.check_model(onnx.load_from_string(onnx_bytes))
    described = {m["name"]: m for m in registry.describe_models()}
    assert set(described) >= SHIPPED
    assert described[learned.ARTIFACT]["version"] == cards[learned.ARTIFACT].version


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_ported_models_give_the_documented_outputs(name: str) -> None:
    assert outputs(name) == pytest.approx(DOCUMENTED[name], abs=1e-5)


def test_the_fusion_operating_point_comes_from_unseen_real_photos() -> None:
    """The card's kind offsets were set on out-of-fold real photos of the corpus (faceproof train operating-point):
    they make a kind stricter, never more lenient, and the card says how many real photos they flag - at most the
    target share of every source's photos, not only of the pool."""
    model = fusion.load_fusion()
    point = artifact.load(fusion.ARTIFACT).card.metrics["operating_point"]
    assert model.kind_offsets == point["kind_offsets"] and all(v >= 0 for v in model.kind_offsets.values())
    assert (
        point["photos"] >= 1000
        and point["flagged"] <= point["target_share"] < point["flagged_at_the_fitted_operating_point"]
    )
    assert len(point["per_source"]) >= 7
    assert all(s["flagged"] <= point["target_share"] for s in point["per_source"].values())
    values = feature_values(measure_signals(faceproof.analyze(FIXTURES / "stylegan2_001.jpg")))
    shifted = model.evaluate(values).kind_probabilities
    fitted = replace(model, kind_offsets={}).evaluate(values).kind_probabilities
    assert all(shifted[k] <= fitted[k] + 1e-12 for k in fitted)


def test_the_operating_point_holds_for_every_source_not_only_the_pool() -> None:
    """A source that looks unlike the rest sets the offset: pooled, its photos would bear the false flags."""
    from faceproof.training.fit_operating_point import TARGET_SHARE, offsets_for

    rng = np.random.default_rng(0)
    sources = np.repeat(["easy", "hard"], [3000, 300])
    generated = np.r_[rng.uniform(0.0, 0.5, (3000, 2)), rng.uniform(0.3, 0.95, (300, 2))]
    probs = {"generated": generated, "swapped": rng.uniform(0.0, 0.4, (3300, 2))}
    offsets = offsets_for(probs, sources)
    assert offsets["swapped"] == 0.0  # never more lenient than the fit
    flagged = probs["generated"] >= 1.0 / (1.0 + np.exp(-offsets["generated"]))
    assert flagged[sources == "hard"].mean() <= TARGET_SHARE / 2
    pooled = np.quantile(generated.ravel(), 1.0 - TARGET_SHARE / 2)
    assert (generated[sources == "hard"] >= pooled).mean() > 2 * TARGET_SHARE  # what the pooled rule would allow


def test_verification_scores_are_the_documented_log_likelihood_ratios() -> None:
    cal = calibration.load_calibration()
    assert cal.version == "2026.12.08.0326-sface@2021dec-int8bq-rgb+dlib@resnet-v1-5pt"
    # docs/calibration.md: fused = -53.985901 + 15.916869 s + 55.994576 d; sface = -5.559063 + 22.453257 s
    assert cal.fused_score(0.5, 0.9) == pytest.approx(-53.985901 + 15.916869 * 0.5 + 55.994576 * 0.9, abs=1e-5)
    assert cal.fused_score(0.5, None) == pytest.approx(-5.559063 + 22.453257 * 0.5, abs=1e-5)


def test_a_card_with_a_wrong_sha256_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = blending.ARTIFACT
    (tmp_path / f"{name}.onnx").write_bytes((artifact.models_dir() / f"{name}.onnx").read_bytes())
    card = artifact.read(name).card
    bad = replace(card, onnx_sha256="0" * 64)
    (tmp_path / f"{name}{artifact.CARD_SUFFIX}").write_text(json.dumps(bad.to_dict()))
    with pytest.raises(artifact.ArtifactError, match="does not match its card"):
        artifact.read(name, tmp_path)
    with pytest.raises(artifact.ArtifactError, match="not installed"):
        artifact.read("no_such_model", tmp_path)


def _install(tmp_path, *names: str) -> None:  # type: ignore[no-untyped-def]
    for name in names:
        for suffix in (".onnx", artifact.CARD_SUFFIX):
            (tmp_path / f"{name}{suffix}").write_bytes((artifact.models_dir() / f"{name}{suffix}").read_bytes())


def test_a_head_on_another_backbone_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A crop head's card pins the backbone it was fitted on: the loader resolves it and refuses any other."""
    head, backbone = generated_net.DETECTOR.model, "crop_backbone"
    _install(tmp_path, head, backbone)
    loaded = artifact.read(head, tmp_path)
    assert set(loaded.requires) == {backbone}
    assert loaded.requires[backbone].card.onnx_sha256 == loaded.card.requires[backbone]
    card_path = tmp_path / f"{head}{artifact.CARD_SUFFIX}"
    card = json.loads(card_path.read_text())
    card["requires"] = {backbone: "0" * 64}
    card_path.write_text(json.dumps(card))
    with pytest.raises(artifact.ArtifactError, match=r"runs on 'crop_backbone' sha256 000000000000, but the installed"):
        artifact.read(head, tmp_path)
    (tmp_path / f"{backbone}{artifact.CARD_SUFFIX}").unlink()
    with pytest.raises(artifact.ArtifactError, match="'crop_backbone' is not installed"):
        artifact.read(head, tmp_path)


def test_a_crop_head_is_the_probe_numpy_computes() -> None:
    """The head graph: logit = features @ weight + bias, cam = the last stage's mean weights over the map (the
    backbone's features end with the means, then the spreads, of its last map's channels)."""
    rng = np.random.default_rng(0)
    channels = artifact.read_card("crop_backbone").parameters["stage_channels"]
    weight = rng.normal(size=2 * sum(channels)).astype(np.float32)
    last_means = slice(weight.size - 2 * channels[-1], weight.size - channels[-1])
    head = artifact.Artifact(
        artifact.ModelCard("head", "0", "test", "", {}, {}), export.crop_head_graph(weight, 0.5, last_means, "h")
    )
    features = rng.normal(size=(3, weight.size)).astype(np.float32)
    feature_map = rng.normal(size=(3, channels[-1], 5, 5)).astype(np.float32)
    out = head.run({"features": features, "feature_map": feature_map})
    np.testing.assert_allclose(out["logit"], features @ weight + 0.5, rtol=1e-5, atol=1e-4)
    cam = np.einsum("nchw,c->nhw", feature_map, weight[last_means])
    np.testing.assert_allclose(out["cam"], cam, rtol=1e-5, atol=1e-4)


def test_smoke_fit_exports_a_linear_model_numpy_agrees_with(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    features = ["a", "b", "c"]
    mean, scale, coef, intercept = rng.normal(size=3), rng.uniform(0.5, 2.0, 3), rng.normal(size=3), 0.25
    graph = export.linear_model_graph(features, mean, scale, coef, intercept, "smoke")
    path = export.write_artifact(
        graph,
        name="smoke",
        version="0",
        task="test",
        inputs={"x": "float32 [N, 3]"},
        outputs={"logit": "float32 [N]", "terms": "float32 [N, 3]"},
        parameters={"features": features},
        training={"data": "three random numbers", "seed": 0},
        metrics={"none": "smoke test"},
        licence={"weights": "MIT", "data": "none"},
        directory=tmp_path,
    )
    assert path == tmp_path / "smoke.onnx"
    model = artifact.read("smoke", tmp_path)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    out = model.run({"x": x})
    terms = coef * (x.astype(np.float64) - mean) / scale
    np.testing.assert_allclose(out["terms"], terms, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["logit"], terms.sum(axis=1) + intercept, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="incomplete"):
        export.write_artifact(
            graph,
            name="smoke",
            version="0",
            task="t",
            inputs={},
            outputs={},
            parameters={},
            training={},
            metrics={},
            licence={},
            directory=tmp_path,
        )
