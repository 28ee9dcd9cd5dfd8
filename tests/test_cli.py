"""The command line, end to end on real photos (typer's runner, a temporary data directory)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from faceproof.api.app import create_app
from faceproof.cli.common import EXIT_DIFFERENT_PERSON, EXIT_OK
from faceproof.cli.main import app
from faceproof.config import Settings
from faceproof.evaluation.damage import damaged
from tests.conftest import fixture_path

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACEPROOF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FACEPROOF_DATABASE_URL", raising=False)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_analyze_json_and_table() -> None:
    code, out = run("analyze", "--json", str(fixture_path("df02_01.jpg")), str(fixture_path("df01_01.jpg")))
    assert code == EXIT_OK
    docs = [json.loads(line) for line in out.strip().splitlines()]
    assert len(docs) == 2 and all(d["faces_found"] == 1 and d["description"] for d in docs)
    code, out = run("analyze", str(fixture_path("df02_01.jpg")))
    assert code == EXIT_OK and "description" in out and "yaw" in out


def test_enroll_dir_verify_identify_export_import(env: Path) -> None:
    people = env / "people"
    for person, names in {"alice": ["df01_01.jpg", "df01_02.jpg", "df03_01.jpg"], "bob": ["df02_01.jpg"]}.items():
        (people / person).mkdir(parents=True)
        for n in names:
            shutil.copy(fixture_path(n), people / person / n)
    code, out = run("enroll-dir", "--json", str(people))
    assert code == EXIT_OK
    rows = json.loads(out)
    status = {(r["person"], r["file"]): (r["status"], r["reason"]) for r in rows}
    assert status[("alice", "df01_01.jpg")][0] == "accepted" and status[("alice", "df01_02.jpg")][0] == "accepted"
    assert status[("alice", "df03_01.jpg")] == ("refused", "identity_mismatch")
    alice = next(r["profile_id"] for r in rows if r["person"] == "alice")

    code, out = run("profiles", "list", "--json")
    listed = json.loads(out)
    assert listed["total"] == 2 and {p["name"] for p in listed["items"]} == {"alice", "bob"}

    code, out = run("verify", "--profile", alice, "--json", str(fixture_path("df01_03.jpg")))
    assert code == EXIT_OK and json.loads(out)["verdict"] == "genuine"
    code, _ = run("verify", "--profile", alice, str(fixture_path("df10_01.jpg")))
    assert code == EXIT_DIFFERENT_PERSON

    code, out = run("identify", "--json", str(fixture_path("df01_03.jpg")))
    assert json.loads(out)["candidates"][0]["profile_id"] == alice

    backup = env / "backup.jsonl"
    assert run("export", "--out", str(backup))[0] == EXIT_OK
    assert len(backup.read_text().splitlines()) == 2
    assert run("profiles", "delete", alice)[0] == EXIT_OK
    assert run("profiles", "show", alice)[0] == 1
    code, out = run("import", str(backup))
    assert code == EXIT_OK and "imported 1 profiles, skipped 1" in out  # bob exists: skipped, not overwritten
    code, out = run("profiles", "show", "--json", alice)
    assert code == EXIT_OK and json.loads(out)["image_count"] == 2
    (env / "bad.jsonl").write_text("{not json\n")
    assert run("import", str(env / "bad.jsonl"))[0] == 1


def test_import_restores_deleted_profiles(env: Path) -> None:
    code, out = run(
        "enroll", "--name", "ada", "--json", str(fixture_path("df02_01.jpg")), str(fixture_path("df02_02.jpg"))
    )
    assert code == EXIT_OK
    pid = json.loads(out)["id"]
    backup = env / "b.jsonl"
    run("export", "--out", str(backup))
    run("profiles", "delete", pid)
    assert run("import", str(backup))[0] == EXIT_OK
    code, out = run("profiles", "show", "--json", pid)
    assert code == EXIT_OK and json.loads(out)["image_count"] == 2


def test_eval_verification_writes_contract(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("file_a,file_b,same_person\ndf01_01.jpg,df01_02.jpg,1\ndf01_01.jpg,df02_01.jpg,0\n")
    out = tmp_path / "report.json"
    code, _ = run("eval", "verification", "--pairs", str(pairs), "--root", str(fixture_path(".")), "--out", str(out))
    assert code == EXIT_OK
    report = json.loads(out.read_text())
    assert report["n_pairs"] == 2 and report["accuracy"] == 1.0
    assert set(report["tar_at_far"]) >= {"0.01", "0.001"} and set(report["per_model"]) == {"sface", "dlib"}
    markdown = (tmp_path / "report.md").read_text()
    assert "| accuracy | 1.0 |" in markdown and "![" in markdown  # the report beside the JSON shows the plot
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_eval_authenticity_under_damage(tmp_path: Path) -> None:
    # Every image of the fixture manifest is masked (deterministically, seeded by its name) before it is assessed:
    # a face mask is everyday damage, and no real photo may be flagged for it (before the recapture signal measured
    # the two halves of its window separately, a dark mask's outline read as screen moire).
    fixtures = fixture_path(".")
    masked_once = damaged(fixtures / "df03_01.jpg", ("mask",))
    assert np.array_equal(masked_once, damaged(fixtures / "df03_01.jpg", ("mask",)))
    assert not np.array_equal(masked_once, damaged(fixtures / "df03_01.jpg", ("mask", "jpeg")))
    out = tmp_path / "masked.json"
    code, _ = run(
        "eval", "authenticity", "--manifest", str(fixtures / "manifest.csv"), "--root", str(fixtures),
        "--out", str(out), "--damage", "mask", "--workers", "1",
    )  # fmt: skip
    assert code == EXIT_OK
    report = json.loads(out.read_text())
    assert report["damage"] == ["mask"] and report["n_images"] == 15
    assert report["verdicts"]["real"].get("suspected_fake", 0) == 0 and report["real_flagged_rate"] == 0.0
    code, _ = run(
        "eval", "authenticity", "--manifest", str(fixtures / "manifest.csv"), "--root", str(fixtures),
        "--out", str(out), "--damage", "scratches",
    )  # fmt: skip
    assert code == 2


def test_eval_authenticity_reports_per_kind_and_per_real_source(tmp_path: Path) -> None:
    """With a ``kind`` column the report pools generators per kind and gives each real source its own false-flag
    rate; the Markdown report shows those sections as tables, not JSON."""
    fixtures = fixture_path(".")
    rows = list(csv.DictReader((fixtures / "manifest.csv").open()))
    manifest = tmp_path / "kinds.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "identity", "kind"])
        for r in rows:
            real = r["label"] == "real"
            writer.writerow([r["file"], r["label"], r["identity"], "deepface" if real else "generated"])
    out = tmp_path / "kinds.json"
    code, _ = run(
        "eval", "authenticity", "--manifest", str(manifest), "--root", str(fixtures), "--out", str(out),
        "--workers", "1",
    )  # fmt: skip
    assert code == EXIT_OK
    report = json.loads(out.read_text())
    fakes = [r for r in rows if r["label"] != "real"]
    assert report["per_kind"]["generated"]["n"] == len(fakes)
    assert set(report["real_per_source"]) == {"deepface"}
    assert report["real_per_source"]["deepface"]["n"] == len(rows) - len(fakes)
    markdown = (tmp_path / "kinds.md").read_text()
    assert "## per_kind" in markdown and "| generated |" in markdown and "## per_label" in markdown
    assert "```json" not in markdown.split("## per_kind")[1].split("##")[0]


def test_eval_profiles_damages_only_the_probes(tmp_path: Path) -> None:
    # df01 is enrolled from its first two photos (undamaged); its third photo, masked, must still verify as the
    # same person, and the other people's masked photos must not.
    fixtures = fixture_path(".")
    out = tmp_path / "masked.json"
    code, _ = run(
        "eval", "profiles", "--manifest", str(fixtures / "manifest.csv"), "--root", str(fixtures),
        "--enroll", "2", "--out", str(out), "--damage", "mask", "--workers", "1",
    )  # fmt: skip
    assert code == EXIT_OK
    report = json.loads(out.read_text())
    assert report["damage"] == ["mask"] and report["n_profiles"] == 1 and report["n_enrolment_refused"] == 0
    assert report["per_label"]["genuine"]["verdicts"] == {"genuine": 1}
    # group_01 has no identity label but shows df01's person, so it is the one "impostor" that may be accepted.
    impostors = report["per_label"]["impostor"]["verdicts"]
    assert impostors.get("genuine", 0) <= 1 and sum(impostors.values()) == 6
    # each wrong answer is listed with what it rested on: here at most that one
    assert [e["file"] for e in report["errors"]] == ["group_01.jpg"] * impostors.get("genuine", 0)
    for error in report["errors"]:
        assert error["label"] == "impostor" and error["verdict"] == "genuine" and error["condition"] == "open/covered"
        assert error["reasons"][0].startswith("identity match")


def test_analyze_json_landmarks_and_embeddings_as_the_api_sends_them(env: Path) -> None:
    # The CLI and POST /analyze?include_landmarks=true&include_embeddings=true print one serialisation: the same
    # document (timings aside) for the same photo, with the 478-point mesh and each model's full vector.
    photo = fixture_path("df01_01.jpg")
    code, out = run("analyze", "--json", "--landmarks", "--embeddings", str(photo))
    assert code == EXIT_OK
    doc = json.loads(out)
    subject = doc["subject"]
    assert len(subject["landmarks"]) == 478 and all(len(point) == 3 for point in subject["landmarks"])
    vectors = {e["model"]: e["vector"] for e in subject["identity"]}
    assert {model: len(v) for model, v in vectors.items()} == {"sface": 128, "dlib": 128}
    with TestClient(create_app(Settings.from_env())) as client:
        api = client.post(
            "/analyze",
            files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
            params={"include_landmarks": True, "include_embeddings": True},
        ).json()
    assert doc.pop("file") == str(photo)
    assert {**doc, "timings_ms": {}} == {**api, "timings_ms": {}}
    code, _ = run("analyze", "--landmarks", str(photo))  # the table has no room for them: a usage error
    assert code == 2
