"""Profiles through the HTTP API, on both storage backends: enrol, gate, verify, compare, identify, manage."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter

from faceproof.api.app import create_app
from faceproof.authenticity.consistency import BASELINE_Z, baseline_deviation
from faceproof.authenticity.fusion import load_fusion
from faceproof.config import Settings
from tests.conftest import fixture_path


@pytest.fixture
def client(database_url: str, tmp_path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    with TestClient(create_app(settings)) as c:
        yield c


def files(*names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (n, fixture_path(n).read_bytes(), "image/jpeg")) for n in names]


def one(name: str, field: str = "file") -> dict:
    return {field: (name, fixture_path(name).read_bytes(), "image/jpeg")}


def enrol(client: TestClient, *names: str, **form: str) -> dict:
    r = client.post("/profiles", files=files(*names), data=form)
    assert r.status_code == 201, r.text
    return r.json()


def blurred(name: str) -> bytes:
    img = Image.open(fixture_path(name)).convert("RGB")
    small = img.resize((img.width // 12, img.height // 12)).resize(img.size)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=40)
    return buf.getvalue()


def test_enrol_several_images_aggregates(client: TestClient) -> None:
    body = enrol(
        client, "df01_01.jpg", "df01_02.jpg", name="Person One", external_id="p1", metadata=json.dumps({"team": "a"})
    )
    p = body["profile"]
    assert p["image_count"] == 2 and p["name"] == "Person One" and p["metadata"] == {"team": "a"}
    s = p["summary"]
    assert s["image_count"] == 2 and s["usable_images"] == 2
    sface = next(v for k, v in s["templates"].items() if k.startswith("sface"))
    assert sface["n"] == 2 and 0.5 < sface["spread"]["min_similarity"] <= 1.0
    assert s["geometry"]["nose_width_ratio"]["n"] == 2 and s["geometry"]["nose_width_ratio"]["std"] > 0
    assert p["description"].startswith("Built from 2 photos.")
    assert len(body["images"]) == 2


def test_verify_genuine_different_and_inconclusive(client: TestClient) -> None:
    pid = enrol(client, "df01_01.jpg", "df01_02.jpg")["profile"]["id"]
    genuine = client.post(f"/profiles/{pid}/verify", files=one("df01_03.jpg")).json()
    assert genuine["verdict"] == "genuine" and genuine["same_person"] is True
    m = genuine["match"]
    assert m["match_probability"] > 0.9 and m["scores"]["fused"] >= m["threshold"] and m["far"] == 0.001
    assert genuine["reasons"][0].startswith("identity match")
    assert genuine["authenticity"]["verdict"] == "likely_real"
    assert {f["signal"] for f in genuine["findings"]} >= {"frequency", "provenance", "consistency", "reality_baseline"}
    other = client.post(f"/profiles/{pid}/verify", files=one("df02_01.jpg")).json()
    assert other["verdict"] == "different_person" and other["match"]["match_probability"] < 0.1
    assert other["match"]["scores"]["sface"] < m["scores"]["sface"]
    strict = client.post(f"/profiles/{pid}/verify", files=one("df01_03.jpg"), params={"far": 0.0001}).json()
    assert strict["match"]["threshold"] > m["threshold"] and strict["match"]["far"] == 0.0001
    bad_far = client.post(f"/profiles/{pid}/verify", files=one("df01_03.jpg"), params={"far": 0.5})
    assert bad_far.status_code == 422 and bad_far.json()["error"]["code"] == "invalid_request"
    poor = client.post(f"/profiles/{pid}/verify", files={"file": ("b.jpg", blurred("df02_01.jpg"), "image/jpeg")})
    body = poor.json()
    assert body["quality"]["usable_for_identity"] is False
    # someone else, blurred: no longer "inconclusive" when the faces are further apart than blur explains
    assert body["match"]["clearly_different"] == (body["match"]["scores"]["sface"] < body["match"]["reject_threshold"])
    assert body["verdict"] == ("different_person" if body["match"]["clearly_different"] else "inconclusive")


def test_reality_baseline_is_the_band_the_check_reads(client: TestClient) -> None:
    # The page plots GET /profiles/{id}/reality-baseline: each band must be exactly where verification's baseline
    # check starts to report a feature, and each dot an enrolment photo's own value.
    body = enrol(client, "df01_01.jpg", "df01_02.jpg")
    pid, summary = body["profile"]["id"], body["profile"]["summary"]["reality_baseline"]
    baseline = client.get(f"/profiles/{pid}/reality-baseline").json()
    assert baseline["image_ids"] == [i["id"] for i in body["images"]] and baseline["z"] == BASELINE_Z
    population = load_fusion().population_scale
    assert [f["feature"] for f in baseline["features"]] == list(population)
    for f in baseline["features"]:
        assert f["mean"] == pytest.approx(summary[f["feature"]]["mean"], abs=1e-6)
        assert f["mean"] == pytest.approx(sum(f["photos"]) / 2, abs=1e-5)
        assert f["low"] < min(f["photos"]) <= max(f["photos"]) < f["high"]
        for edge, inward in ((f["low"], 1.0), (f["high"], -1.0)):
            step = inward * 1e-3 * f["spread"]
            inside = baseline_deviation({f["feature"]: edge + step}, summary, population)
            outside = baseline_deviation({f["feature"]: edge - step}, summary, population)
            assert inside.score < 0.5 <= outside.score, f
    assert [i["headline"]["title"] for i in client.get(f"/profiles/{pid}/images").json()] == ["Usable", "Usable"]
    missing = client.get("/profiles/nope/reality-baseline")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "profile_not_found"


def test_enrolment_gates_change_nothing(client: TestClient) -> None:
    pid = enrol(client, "df01_01.jpg")["profile"]["id"]
    wrong = client.post(f"/profiles/{pid}/images", files=one("df03_01.jpg"))
    assert wrong.status_code == 422
    err = wrong.json()["error"]
    assert err["code"] == "enrolment_refused" and err["details"]["reason"] == "identity_mismatch"
    bad = client.post(f"/profiles/{pid}/images", files={"file": ("b.jpg", blurred("df01_02.jpg"), "image/jpeg")})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["reason"] == "unusable_image"
    assert "low_sharpness" in bad.json()["error"]["details"]["quality_reasons"]
    assert client.get(f"/profiles/{pid}").json()["image_count"] == 1
    mixed = client.post("/profiles", files=files("df02_01.jpg", "df10_01.jpg"))
    assert mixed.status_code == 422 and mixed.json()["error"]["details"]["reason"] == "identity_mismatch"
    assert client.get("/profiles").json()["total"] == 1


def test_add_and_delete_images_update_the_profile(client: TestClient) -> None:
    pid = enrol(client, "df01_01.jpg")["profile"]["id"]
    added = client.post(f"/profiles/{pid}/images", files=one("df01_02.jpg"))
    assert added.status_code == 201, added.text
    image_id = added.json()["image_id"]
    assert added.json()["profile"]["image_count"] == 2
    images = client.get(f"/profiles/{pid}/images").json()
    assert len(images) == 2 and images[1]["id"] == image_id and images[1]["stored_image"] is False
    after = client.delete(f"/profiles/{pid}/images/{image_id}").json()
    assert after["image_count"] == 1 and after["summary"]["image_count"] == 1
    missing = client.delete(f"/profiles/{pid}/images/{image_id}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "image_not_found"


def test_patch_list_delete(client: TestClient) -> None:
    a = enrol(client, "df01_01.jpg", name="A", external_id="ext-a")["profile"]["id"]
    b = enrol(client, "df02_01.jpg", name="B")["profile"]["id"]
    patched = client.patch(f"/profiles/{b}", json={"name": "Bee", "metadata": {"x": 1}}).json()
    assert patched["name"] == "Bee" and patched["metadata"] == {"x": 1}
    dup = client.patch(f"/profiles/{b}", json={"external_id": "ext-a"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_external_id"
    page = client.get("/profiles", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["id"] == a
    assert client.delete(f"/profiles/{a}").status_code == 204
    assert client.get(f"/profiles/{a}").status_code == 404
    assert client.delete(f"/profiles/{a}").json()["error"]["code"] == "profile_not_found"


def test_identify_and_compare(client: TestClient) -> None:
    ids = {
        "df01": enrol(client, "df01_01.jpg", "df01_02.jpg", name="one")["profile"]["id"],
        "df02": enrol(client, "df02_01.jpg", name="two")["profile"]["id"],
        "df10": enrol(client, "df10_01.jpg", name="ten")["profile"]["id"],
    }
    found = client.post("/identify", files=one("df01_03.jpg"), params={"top_k": 3}).json()
    assert found["candidates"][0]["profile_id"] == ids["df01"] and found["candidates"][0]["above_threshold"]
    assert len(found["candidates"]) == 3 and not any(c["above_threshold"] for c in found["candidates"][1:])
    assert found["usable"] is True and found["reasons"] == []
    nobody = client.post("/identify", files=one("df03_01.jpg")).json()
    assert not any(c["above_threshold"] for c in nobody["candidates"])
    # a blurred photo: the answer says a miss may not mean the person is not enrolled
    buf = io.BytesIO()
    Image.open(fixture_path("df01_03.jpg")).filter(ImageFilter.GaussianBlur(6)).save(buf, format="JPEG")
    blurred = client.post("/identify", files={"file": ("blurred.jpg", buf.getvalue(), "image/jpeg")}).json()
    assert blurred["usable"] is False and "low_sharpness" in blurred["reasons"]
    same = client.post("/compare", files={**one("df02_01.jpg", "first"), **one("df02_02.jpg", "second")}).json()
    assert same["same_person"] is True and same["usable"] is True
    assert same["match"]["models_used"] == ["sface", "dlib"] and same["match"]["scores"]["dlib"] is not None
    diff = client.post("/compare", files={**one("df02_01.jpg", "first"), **one("df10_01.jpg", "second")}).json()
    assert diff["same_person"] is False and diff["match"]["match_probability"] < 0.1


def test_seed_endpoint_profile_is_a_normal_profile(client: TestClient) -> None:
    seed = client.post("/create-profile", files=one("df02_01.jpg")).json()
    pid = seed["profile_id"]
    assert client.get("/profiles").json()["items"][0]["id"] == pid
    verdict = client.post(f"/profiles/{pid}/verify", files=one("df02_02.jpg")).json()
    assert verdict["verdict"] == "genuine"
    assert verdict["profile_id"] == pid and verdict["match"]["scores"]["sface"] > 0.5


def test_export_import_round_trip(client: TestClient) -> None:
    pid = enrol(client, "df02_01.jpg", "df02_02.jpg", name="two")["profile"]["id"]
    doc = client.get(f"/profiles/{pid}/export").json()
    assert doc["format"] == "faceproof.profile" and len(doc["images"]) == 2
    assert "image_bytes" not in json.dumps(doc)
    assert client.post("/profiles/import", json=doc).json()["error"]["code"] == "duplicate_profile"
    assert client.delete(f"/profiles/{pid}").status_code == 204
    restored = client.post("/profiles/import", json=doc)
    assert restored.status_code == 201 and restored.json()["id"] == pid and restored.json()["image_count"] == 2
    assert client.post(f"/profiles/{pid}/verify", files=one("df02_02.jpg")).json()["verdict"] == "genuine"
    bad = client.post("/profiles/import", json={"hello": 1})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
