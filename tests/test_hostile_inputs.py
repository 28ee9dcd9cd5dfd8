"""Hostile and broken uploads (tests/hostile_corpus.py) against the real app: a documented answer, never a 5xx.

Why: the service takes files from strangers. Every case must end in its documented 4xx with the JSON error body
``{"error": {"code", "message"}}`` - or in a correct analysis - and a refused ``/create-profile`` must store nothing.
The models are real (no mocks); one app per module keeps them loaded once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from faceproof.api.app import create_app
from faceproof.config import Settings
from tests.hostile_corpus import (
    ERROR_STATUS,
    MAX_PIXELS,
    MAX_UPLOAD_MB,
    OK,
    Case,
    bomb_cases,
    build_corpus,
    portrait_jpeg,
)
from tests.server import running_server, wait_ready

pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # the point of one case

CORPUS = build_corpus()
#: /create-profile runs the same intake and pipeline as /analyze (each success costs ~1 s of CPU), so it gets every
#: refusal - where "nothing stored" is what matters - and one success per kind of trick, not all 37 again.
CREATE_PROFILE_SUCCESSES = {
    "png_named_jpg_sent_as_gif",
    "jpeg_plus_zip_polyglot",
    "gifar_gif_plus_jar",
    "exif_orientation_6",
    "exif_app1_garbage",
    "two_file_fields_last_wins",
}
CREATE_PROFILE_CASES = [c for c in CORPUS if OK not in c.expect or c.name in CREATE_PROFILE_SUCCESSES]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("hostile"), max_upload_mb=MAX_UPLOAD_MB, max_pixels=MAX_PIXELS)
    with TestClient(create_app(settings)) as c:
        yield c


def assert_documented(response: httpx.Response, case: Case, ok_status: int) -> dict[str, Any]:
    """The answer is one the case allows: ``ok_status`` with a JSON body, or an error code with its own status."""
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    if response.status_code == ok_status:
        assert OK in case.expect, f"{case.name}: expected {sorted(case.expect)}, got a success"
        return body
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["code"] in case.expect, f"{case.name}: expected {sorted(case.expect)}, got {error}"
    assert response.status_code == ERROR_STATUS[error["code"]], (response.status_code, error)
    return body


def profile_total(client: TestClient) -> int:
    return int(client.get("/profiles", params={"limit": 1}).json()["total"])


def test_corpus_covers_the_brief() -> None:
    names = {c.name for c in CORPUS}
    assert len(CORPUS) >= 40
    assert {f"exif_orientation_{o}" for o in range(1, 9)} <= names
    assert len(bomb_cases()) >= 6
    assert all(c.expect <= {OK} | set(ERROR_STATUS) for c in CORPUS), "a case expects an undocumented code"


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_analyze(client: TestClient, case: Case) -> None:
    response = client.post("/analyze", **case.post())
    body = assert_documented(response, case, 200)
    if response.status_code == 200 and case.check:
        case.check(body)


@pytest.mark.parametrize("case", CREATE_PROFILE_CASES, ids=lambda c: c.name)
def test_create_profile_stores_only_successes(client: TestClient, case: Case) -> None:
    before = profile_total(client)
    response = client.post("/create-profile", **case.post())
    body = assert_documented(response, case, 201)
    created = response.status_code == 201
    assert profile_total(client) == before + int(created)
    if created and case.check:
        case.check(body["analysis"])


def test_still_serving_after_the_corpus(client: TestClient) -> None:
    """Runs after the corpus (same module, same app): nothing it sent left the server broken or wedged."""
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.post("/analyze", files={"file": ("a.jpg", portrait_jpeg(), "image/jpeg")})
    assert response.status_code == 200 and response.json()["faces_found"] == 1


def test_framework_errors_are_json(client: TestClient) -> None:
    """404 and 405 come from the router, not from our code: they still carry a stable code."""
    missing = client.get("/no/such/path")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.put("/analyze")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


# ------------------------------------------------------------------------------------------------ memory


def _peak_rss_kib(pid: int) -> int:
    """The process's high-water RSS (``VmHWM``: the counter ``getrusage().ru_maxrss`` reports for itself)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM line")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real uvicorn process: its RSS is the server's alone (a TestClient shares the process with the client,
    which holds the whole request body in memory before sending it)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux)")
    env = {"FACEPROOF_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB), "FACEPROOF_MAX_PIXELS": str(MAX_PIXELS)}
    with running_server(tmp_path_factory.mktemp("server"), env) as (url, process):
        wait_ready(url)  # the baseline is taken with the models loaded (they load at start)
        yield url, process.pid


def test_bombs_and_huge_bodies_do_not_grow_memory(server: tuple[str, int], record_property: Any) -> None:
    """Bombs are refused from the header, a 50 MB body to a 2 MB-limit server is refused (413) while it streams
    in - past the whole-body cap (20 photos × 2 MB + 1 MB) before the multipart parser sees the end of it - and a
    5 MB file under that cap by the per-file limit: none may raise the server's peak RSS by anything like the
    declared pixels or the body size."""
    url, pid = server
    baseline = _peak_rss_kib(pid)
    with httpx.Client(base_url=url, timeout=60) as http:
        for case in bomb_cases():
            response = http.post("/analyze", **case.post())
            assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_pixels"
        after_bombs = _peak_rss_kib(pid)

        boundary = "b0undary"
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'.encode()

        def body(mib: int) -> Iterator[bytes]:  # streamed: the client never holds the 50 MB either
            yield head + b"\xff\xd8"
            for _ in range(mib):
                yield bytes(1 << 20)
            yield f"\r\n--{boundary}--\r\n".encode()

        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        response = http.post("/analyze", content=body(50), headers=headers)
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
        response = http.post("/analyze", content=body(5), headers=headers)
        assert response.status_code == 413 and response.json()["error"]["code"] == "upload_too_large"
        after_upload = _peak_rss_kib(pid)
        assert http.get("/healthz").status_code == 200
    figures = {"baseline_kib": baseline, "after_bombs_kib": after_bombs, "after_50mb_upload_kib": after_upload}
    for name, value in figures.items():
        record_property(name, value)
    print(f"server peak RSS: {figures}")
    assert after_bombs - baseline < 32 * 1024, figures
    assert after_upload - after_bombs < 16 * 1024, figures
