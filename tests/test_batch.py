"""Batch engines: the local process pool and Ray give the inline results, in order, and retry failed tasks only.

The Ray tests skip when Ray is not installed (it is an optional extra); CI installs it (``make setup-ray``) and sets
FACEPROOF_REQUIRE_RAY=1, which turns that skip into a failure.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from faceproof.batch.engine import InlineEngine, LocalEngine, RayEngine, open_engine
from faceproof.batch.enrol_dir import enrol_directory
from faceproof.config import Settings
from faceproof.evaluation.authenticity import _assess_file, evaluate_authenticity
from faceproof.evaluation.profiles import evaluate_profiles
from faceproof.service import Service
from tests.conftest import FIXTURES

MANIFEST = FIXTURES / "manifest.csv"


def _square(x: int) -> int:
    return x * x


def _record_then_die_once(item: int, journal: Path, victim: int) -> int:
    """Appends the item to a journal; the first time it meets ``victim`` it kills its own worker process."""
    with journal.open("a") as fh:
        fh.write(f"{item}\n")
    marker = journal.with_suffix(".died")
    if item == victim and not marker.exists():
        marker.touch()
        os._exit(1)  # a crashed worker, not an exception: the pool itself breaks
    return item * 10


def _record_then_raise_once(item: int, journal: Path, victim: int) -> int:
    with journal.open("a") as fh:
        fh.write(f"{item}\n")
    marker = journal.with_suffix(".raised")
    if item == victim and not marker.exists():
        marker.touch()
        raise RuntimeError("transient failure")
    return item * 10


def test_local_pool_returns_inline_results_in_order_with_progress() -> None:
    items = list(range(37))
    seen: list[tuple[int, int]] = []
    engine = LocalEngine(workers=2)
    try:
        out = list(engine.imap(_square, items, chunk_size=4, progress=lambda d, t: seen.append((d, t))))
    finally:
        engine.close()
    assert out == [x * x for x in items] == list(InlineEngine().imap(_square, items))
    assert seen[-1] == (37, 37)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_local_pool_reruns_only_the_task_whose_worker_died(tmp_path: Path) -> None:
    journal = tmp_path / "calls.txt"
    fn = functools.partial(_record_then_die_once, journal=journal, victim=13)
    engine = LocalEngine(workers=2)
    try:
        out = list(engine.imap(fn, list(range(40)), chunk_size=5))
    finally:
        engine.close()
    assert out == [x * 10 for x in range(40)]
    calls = [int(line) for line in journal.read_text().split()]
    # Item 13's task ran twice. The crash breaks the whole pool, so the tasks in flight then (at most 2 per
    # worker: 4 tasks, 20 items) run again too; finished tasks never do, so nothing ran three times.
    assert calls.count(13) == 2
    assert max(calls.count(x) for x in range(40)) == 2
    assert len(calls) <= 40 + 4 * 5


def test_open_engine_defaults_to_every_core_and_inline_for_one() -> None:
    assert isinstance(open_engine("local", workers=1), InlineEngine)
    engine = open_engine("local")
    try:
        assert engine.workers == (os.cpu_count() or 1)
    finally:
        engine.close()


def test_enroll_dir_on_a_pool_equals_inline(tmp_path: Path) -> None:
    people = tmp_path / "people"
    folders = {"ada": ["df01_01.jpg", "df01_02.jpg", "df01_03.jpg"], "carl": ["df03_01.jpg", "df10_01.jpg"]}
    for person, files in folders.items():
        (people / person).mkdir(parents=True)
        for name in files:
            shutil.copy(FIXTURES / name, people / person / name)
    (people / "ada" / "notes.txt").write_text("not a photo")  # ignored: not an image suffix
    (people / "ada" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")

    def run(engine_name: str, workers: int) -> tuple[list[tuple[str, str, str, str]], int]:
        service = Service.open(Settings(data_dir=tmp_path / f"{engine_name}{workers}"))
        engine = open_engine(engine_name, workers)  # type: ignore[arg-type]
        try:
            rows = enrol_directory(service, people, engine)
            return [(r.person, r.file, r.status, r.reason) for r in rows], service.list_profiles()[1]
        finally:
            engine.close()
            service.close()

    inline = run("local", 1)
    assert inline == run("local", 2)
    rows, n_profiles = inline
    assert n_profiles == 2
    assert ("ada", "broken.jpg", "refused", "not_an_image") in rows
    assert ("carl", "df10_01.jpg", "refused", "identity_mismatch") in rows
    assert [r[1] for r in rows if r[2] == "accepted"] == ["df01_01.jpg", "df01_02.jpg", "df01_03.jpg", "df03_01.jpg"]


# ---------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_engine() -> Iterator[RayEngine]:
    """One local Ray instance (2 CPUs) for the module."""
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("FACEPROOF_REQUIRE_RAY") == "1":
            raise
        pytest.skip("Ray is not installed (make setup-ray)")
    engine = RayEngine(workers=2)
    try:
        yield engine
    finally:
        engine.close()


def test_ray_evaluations_equal_the_local_pool(ray_engine: RayEngine) -> None:
    local = LocalEngine(workers=2)
    try:
        files = [FIXTURES / name for name in sorted(p.name for p in FIXTURES.glob("*.jpg"))]
        # Per image, bit for bit: the same fake probability, verdict, threshold and model version.
        assert list(ray_engine.imap(_assess_file, files)) == list(local.imap(_assess_file, files))
        auth_local = evaluate_authenticity(MANIFEST, FIXTURES, engine=local)
        auth_ray = evaluate_authenticity(MANIFEST, FIXTURES, engine=ray_engine)
        prof_local = evaluate_profiles(MANIFEST, FIXTURES, enroll=1, engine=local)
        prof_ray = evaluate_profiles(MANIFEST, FIXTURES, enroll=1, engine=ray_engine)
    finally:
        local.close()
    assert json.dumps(auth_ray, sort_keys=True) == json.dumps(auth_local, sort_keys=True)
    assert json.dumps(prof_ray, sort_keys=True) == json.dumps(prof_local, sort_keys=True)
    assert auth_local["n_images"] == 15 and auth_local["n_failed"] == 0
    assert prof_local["n_profiles"] >= 2 and prof_local["per_label"]["genuine"]["n"] >= 2


def test_ray_retries_a_failed_task_without_redoing_finished_ones(ray_engine: RayEngine, tmp_path: Path) -> None:
    journal = tmp_path / "calls.txt"
    fn = functools.partial(_record_then_raise_once, journal=journal, victim=7)
    assert list(ray_engine.imap(fn, list(range(24)), chunk_size=4)) == [x * 10 for x in range(24)]
    calls = [int(line) for line in journal.read_text().split()]
    assert calls.count(7) == 2
    assert {x for x in set(calls) if calls.count(x) > 1} <= {4, 5, 6, 7}  # only item 7's task (4-7) ran again
