"""Property-based fuzzing of the HTTP API with hypothesis, bounded in examples (the suite must stay fast).

Why: the hand-written corpus (tests/hostile_corpus.py) covers the tricks we thought of; mutated real files find the
ones we did not (this is how a truncated-PNG 500 and a Pillow ``TypeError`` on a damaged TIFF were found). Properties:
any upload gets 200 or a documented 4xx with a known code; malformed query parameters get 422 ``invalid_request``;
the JSON endpoints never 5xx on arbitrary JSON. Examples are derandomized so a failure reproduces in CI.
"""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image

from faceproof.api.app import create_app
from faceproof.config import Settings
from tests.hostile_corpus import ERROR_STATUS, MAX_PIXELS, MAX_UPLOAD_MB, encode, portrait

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's warnings on the damaged files we send

#: No shrinking phase: a failure is reported as first found, in seconds rather than minutes (the suite's time
#: budget); to get a minimal example, rerun one test with ``phases`` left at hypothesis' default.
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SUPPORTED_FARS = ("0.01", "0.001", "0.0001")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), max_upload_mb=MAX_UPLOAD_MB, max_pixels=MAX_PIXELS)
    with TestClient(create_app(settings_)) as c:
        yield c


def _seeds() -> dict[str, bytes]:
    """Small real files in each container (a small face keeps a successful analysis cheap)."""
    face = portrait().resize((280, 208))
    return {
        "jpeg": encode(face, "JPEG", quality=85),
        "png": encode(face, "PNG"),
        "gif": encode(face, "GIF"),
        "webp": encode(face, "WEBP"),
        "tiff": encode(face, "TIFF"),
    }


SEEDS = _seeds()
TINY = encode(Image.new("RGB", (1, 1)), "PNG")  # valid, refused cheaply (image_too_small) once params pass


def assert_documented(response: httpx.Response, allow_ok: bool = True) -> dict[str, Any]:
    """200 (when allowed) or a known error code with its own status and a JSON error body - never a 5xx."""
    assert response.status_code < 500, response.text
    body = response.json()
    if allow_ok and response.status_code == 200:
        return body
    error = body["error"]
    assert error["code"] in ERROR_STATUS and error["message"], body
    assert response.status_code == ERROR_STATUS[error["code"]], (response.status_code, error)
    return body


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A real file with bit flips, overwritten header bytes, a truncation or an insertion."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "header", "truncate", "insert"]))
        if kind == "flip":
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "header":  # the first bytes hold sizes, chunk lengths and offsets: the interesting part
            pos = draw(st.integers(0, min(len(data), 512) - 1))
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[pos : pos + len(chunk)] = chunk
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        else:
            pos = draw(st.integers(0, len(data)))
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        if not data:
            break
    return bytes(data)


@settings(FUZZ, max_examples=60)
@given(data=mutated_files())
def test_mutated_files(client: TestClient, data: bytes) -> None:
    assert_documented(client.post("/analyze", files={"file": ("x.jpg", data, "image/jpeg")}))


@settings(FUZZ, max_examples=40)
@given(data=st.binary(max_size=4096), name=st.text(max_size=40), content_type=st.sampled_from(["", "image/png", "x/y"]))
def test_random_bytes_and_names(client: TestClient, data: bytes, name: str, content_type: str) -> None:
    response = client.post("/analyze", files={"file": (name or "f", data, content_type or None)})
    assert_documented(response, allow_ok=False)


def _valid_face_index(raw: str) -> bool:
    try:
        return int(raw) >= 0
    except ValueError:
        return False


def _valid_far(raw: str) -> bool:
    try:
        far = float(raw)
    except ValueError:
        return False
    return math.isfinite(far) and any(abs(far - float(s)) <= 1e-9 for s in SUPPORTED_FARS)


QUERY_VALUES = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "-0", "1e-3", "0x10", "١", "0.001", "true", "[]", "1_000"]),
    st.text(max_size=12),
)


@settings(FUZZ, max_examples=60)
@given(face_index=QUERY_VALUES, far=QUERY_VALUES)
def test_query_params(client: TestClient, face_index: str, far: str) -> None:
    """Bad ``face_index`` / ``far`` -> 422 ``invalid_request``; good ones reach intake (a 1x1 image: too small)."""
    response = client.post("/identify", params={"face_index": face_index, "far": far}, files={"file": ("a", TINY)})
    code = assert_documented(response, allow_ok=False)["error"]["code"]
    valid = _valid_face_index(face_index) and _valid_far(far)
    assert code == ("image_too_small" if valid else "invalid_request"), (face_index, far, code)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
EXPORT_KEYS = ["format", "version", "profile", "images", "summary", "id", "name", "metadata", "templates"]


@settings(FUZZ, max_examples=60)
@given(
    document=st.dictionaries(st.sampled_from(EXPORT_KEYS), JSON, max_size=5)
    | st.fixed_dictionaries({"profile": st.dictionaries(st.sampled_from(EXPORT_KEYS), JSON)}, optional={"images": JSON})
    | JSON
)
def test_import_never_5xx(client: TestClient, document: Any) -> None:
    response = client.post("/profiles/import", json=document)
    if response.status_code == 201:  # a document that happens to be a valid export: undo it for the next example
        assert client.delete(f"/profiles/{response.json()['id']}").status_code == 204
        return
    assert_documented(response, allow_ok=False)


@pytest.fixture(scope="module")
def profile_id(client: TestClient) -> str:
    response = client.post("/create-profile", files={"file": ("a.jpg", SEEDS["jpeg"], "image/jpeg")})
    assert response.status_code == 201, response.text
    return str(response.json()["profile_id"])


@settings(FUZZ, max_examples=40)
@given(patch=st.dictionaries(st.sampled_from(["name", "external_id", "metadata", "other"]), JSON, max_size=4) | JSON)
def test_patch_never_5xx(client: TestClient, profile_id: str, patch: Any) -> None:
    """Arbitrary JSON reaches the real store (a real profile): it is applied or refused, never a 500."""
    response = client.patch(f"/profiles/{profile_id}", json=patch)
    if response.status_code != 200:
        assert assert_documented(response, allow_ok=False)["error"]["code"] == "invalid_request"


def test_non_standard_json_numbers(client: TestClient, profile_id: str) -> None:
    """Python's JSON parser accepts NaN/Infinity, which strict JSON encoders then refuse: must not become a 500."""
    headers = {"content-type": "application/json"}
    patched = client.patch(
        f"/profiles/{profile_id}", content=b'{"metadata": {"x": NaN, "y": -Infinity}}', headers=headers
    )
    assert patched.status_code == 200 and patched.json()["metadata"] == {"x": None, "y": None}
    assert client.get(f"/profiles/{profile_id}").status_code == 200
    imported = client.post("/profiles/import", content=b'{"profile": {"id": NaN}, "images": Infinity}', headers=headers)
    assert_documented(imported, allow_ok=False)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON document (dict keys and list indices), the root excluded."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    return [p for key, value in children for p in [(*prefix, key), *_paths(value, (*prefix, key))]]


@pytest.fixture(scope="module")
def export_document(client: TestClient, profile_id: str) -> dict[str, Any]:
    response = client.get(f"/profiles/{profile_id}/export")
    assert response.status_code == 200
    return response.json()


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_import_mutated_export_never_5xx(client: TestClient, export_document: dict[str, Any], data: Any) -> None:
    """A real export with one subtree replaced by arbitrary JSON gets past the format gate, into the store."""
    document = copy.deepcopy(export_document)
    document["profile"]["id"] = uuid.uuid4().hex
    *parent_path, key = data.draw(st.sampled_from(_paths(document)))
    parent = document
    for step in parent_path:
        parent = parent[step]
    parent[key] = data.draw(JSON)
    response = client.post("/profiles/import", json=document)
    if response.status_code != 201:
        assert_documented(response, allow_ok=False)
