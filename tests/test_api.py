"""The HTTP API end to end: real uploads, real models, a real SQLite file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel

from faceproof.api import schemas
from faceproof.api.app import create_app
from faceproof.config import Settings
from tests.conftest import fixture_path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(data_dir=data_dir, max_upload_mb=2.0, max_pixels=4_000_000)
    with TestClient(create_app(settings)) as c:
        yield c


def _upload(path: Path) -> dict:
    return {"file": (path.name, path.read_bytes(), "image/jpeg")}


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_create_profile_round_trip(client: TestClient) -> None:
    r = client.post("/create-profile", files=_upload(fixture_path("df01_01.jpg")))
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["description"], str) and len(body["description"]) > 20
    pid = body["profile_id"]
    assert body["profile"]["image_count"] == 1
    shape = body["analysis"]["subject"]["attributes"]["face_shape"]  # the words, with their confidence
    assert all(c in body["description"].lower() for c in shape["classes"]) and shape["confidence"] >= 0.95
    got = client.get(f"/profiles/{pid}")
    assert got.status_code == 200
    profile = got.json()
    assert profile["id"] == pid
    assert profile["description"] == body["description"]
    assert profile["summary"]["attributes"] == body["analysis"]["subject"]["attributes"]  # one photo: its readings
    templates = profile["summary"]["templates"]
    assert {k.split("@")[0] for k in templates} == {"sface", "dlib"}
    assert all(len(t["centroid"]) == 128 for t in templates.values())


def test_analyze_stores_nothing_and_reports_faces(client: TestClient) -> None:
    r = client.post("/analyze", files=_upload(fixture_path("group_01.jpg")), params={"include_landmarks": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["faces_found"] >= 2 and len(body["faces"]) == body["faces_found"]
    assert body["subject"]["face_index"] == 0
    assert len(body["subject"]["landmarks"]) == 478
    assert body["subject"]["identity"][0]["vector"] is None  # templates only on request
    r1 = client.post("/analyze", files=_upload(fixture_path("group_01.jpg")), params={"face_index": 1})
    assert r1.json()["subject"]["face"]["box"] != body["subject"]["face"]["box"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 400, "empty_upload"),
        (b"just some text, definitely not an image" * 4, 415, "not_an_image"),
        (fixture_path("df01_02.jpg").read_bytes()[:20000], 400, "truncated_image"),
        (_png(Image.new("RGB", (50, 50))), 422, "image_too_small"),
        (_png(Image.new("RGB", (400, 300), (90, 160, 220))), 422, "no_face"),
        (_png(Image.new("L", (2500, 2000))), 413, "too_many_pixels"),
        (b"\xff\xd8" + b"\0" * 2_200_000, 413, "upload_too_large"),
    ],
)
def test_bad_input_gets_json_4xx(client: TestClient, payload: bytes, status: int, code: str) -> None:
    before = client.get("/profiles/does-not-exist")
    r = client.post("/create-profile", files={"file": ("x.jpg", payload, "image/jpeg")})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]
    assert before.status_code == 404 and before.json()["error"]["code"] == "profile_not_found"


def test_missing_file_field(client: TestClient) -> None:
    r = client.post("/create-profile", data={"nothing": "here"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"


def test_face_index_out_of_range(client: TestClient) -> None:
    r = client.post("/analyze", files=_upload(fixture_path("df02_01.jpg")), params={"face_index": 5})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "face_index_out_of_range" and err["details"]["faces_found"] == 1


def test_health_version_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    v = client.get("/version").json()
    names = {m["name"] for m in v["models"]}
    assert {"yunet", "sface", "dlib"} <= names
    schema = client.get("/openapi.json").json()
    assert "/create-profile" in schema["paths"]
    responses = schema["paths"]["/create-profile"]["post"]["responses"]
    assert {"201", "413", "415", "422"} <= set(responses)
    examples = responses["422"]["content"]["application/json"]["examples"]
    assert {"no_face", "image_too_small", "face_index_out_of_range"} <= set(examples)
    assert examples["no_face"]["value"]["error"]["code"] == "no_face"
    assert "How to decide whether an image is a real photo" in schema["info"]["description"]
    enrol = schema["paths"]["/profiles"]["post"]["responses"]["422"]["content"]["application/json"]["examples"]
    assert "enrolment_refused" in enrol


def _component(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    return components[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema


def _example_shown(media: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether /docs shows an example for this body: on the media type itself, or on its schema (for an array, on
    its items), where a model's ``examples`` put it."""
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = media.get("schema", {})
    return bool(_component(schema.get("items", schema), components).get("examples"))


def _undocumented(op: dict[str, Any], components: dict[str, Any]) -> Iterator[str]:
    """What /docs lacks for one operation: its summary or description, an example of each success body, of a JSON
    request body, and of every form field and parameter that has no default to show instead (uploads excepted)."""
    yield from (part for part in ("summary", "description") if not op.get(part))
    success = {status: r for status, r in op["responses"].items() if status.startswith("2")}
    if not success:
        yield "a success response"
    for status, response in success.items():
        if not response.get("content") and status != "204":
            yield f"{status} body"
        yield from (
            f"{status} example" for m in response.get("content", {}).values() if not _example_shown(m, components)
        )
    for media_type, media in op.get("requestBody", {}).get("content", {}).items():
        if media_type == "application/json":
            if not _example_shown(media, components):
                yield "request body example"
            continue
        for field, spec in _component(media["schema"], components)["properties"].items():
            upload = "contentMediaType" in spec.get("items", spec)
            if not (upload or "default" in spec or spec.get("examples")):
                yield f"form field {field} example"
    for param in op.get("parameters", []):
        if not (param.get("examples") or "default" in param["schema"]):
            yield f"parameter {param['name']} example"


def test_every_operation_has_summary_description_and_examples(client: TestClient) -> None:
    # /docs is the reference a client reads: every operation says what it does and shows what it answers and what
    # to send; the walk covers every path, so a new route without them fails here.
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    missing = [
        f"{method.upper()} {path}: {gap}"
        for path, operations in schema["paths"].items()
        for method, op in operations.items()
        for gap in _undocumented(op, components)
    ]
    assert not missing, missing


RESPONSE_MODELS = [
    m
    for m in vars(schemas).values()
    if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == schemas.__name__
]


@pytest.mark.parametrize("model", RESPONSE_MODELS, ids=lambda m: m.__name__)
def test_examples_match_their_models(model: type[BaseModel]) -> None:
    # An example is only worth showing if the API could send it: each one validates against its model, and
    # survives the round trip unchanged (a misspelt or stale key would be dropped silently by validation alone).
    for document in model.model_json_schema().get("examples", []):
        assert model.model_validate(document).model_dump(mode="json", exclude_unset=True) == document


def test_array_rgba_input_same_as_rgb() -> None:
    import faceproof

    rgb = np.asarray(Image.open(fixture_path("df02_01.jpg")).convert("RGB"))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert faceproof.analyze(rgba).description == faceproof.analyze(rgb).description
