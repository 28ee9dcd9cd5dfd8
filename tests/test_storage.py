"""The storage contract, run against both backends: SQLite (embedded) and a real PostgreSQL + pgvector."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError

from faceproof.errors import DuplicateExternalId, InvalidRequest, ProfileNotFound
from faceproof.storage import NewImage, open_store
from faceproof.storage.migrate import current_revision
from faceproof.storage.schema import embeddings, images, profiles
from faceproof.storage.sql import SqlStore

KEY = "sface@2021dec-int8bq-rgb"
OTHER_KEY = "dlib@resnet-v1-5pt"


def unit(rng: np.random.Generator, centre: np.ndarray | None = None, noise: float = 0.3) -> np.ndarray:
    v = rng.normal(size=128) if centre is None else centre + noise * rng.normal(size=128) / np.sqrt(128)
    return (v / np.linalg.norm(v)).astype(np.float32)


def image(rng: np.random.Generator, centre: np.ndarray | None = None, n: int = 0) -> NewImage:
    return NewImage(analysis={"n": n}, embeddings={KEY: unit(rng, centre), OTHER_KEY: unit(rng)})


@pytest.fixture
def store(database_url: str) -> SqlStore:
    s = open_store(database_url)
    assert isinstance(s, SqlStore)
    yield s
    s.close()


def count(store: SqlStore, table) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)))


def test_crud_and_pagination(store: SqlStore) -> None:
    rng = np.random.default_rng(1)
    created = [
        store.create_profile(
            name=f"p{i}",
            external_id=f"ext-{i}",
            metadata={"i": i},
            images=[image(rng)],
            summary={"description": f"d{i}"},
        )
        for i in range(5)
    ]
    got = store.get_profile(created[2].id)
    assert got is not None and got.name == "p2" and got.metadata == {"i": 2} and got.image_count == 1
    assert got.summary == {"description": "d2"} and got.created_at.tzinfo is not None
    page, total = store.list_profiles(offset=1, limit=2)
    assert total == 5 and [p.name for p in page] == ["p1", "p2"]
    changed = store.update_profile(created[0].id, name="renamed", metadata={"x": 1})
    assert changed.name == "renamed" and changed.metadata == {"x": 1} and changed.external_id == "ext-0"
    with pytest.raises(DuplicateExternalId):
        store.update_profile(created[1].id, external_id="ext-0")
    with pytest.raises(DuplicateExternalId):
        store.create_profile(name="dup", external_id="ext-3", metadata={}, images=[], summary={})
    with pytest.raises(InvalidRequest):
        store.update_profile(created[1].id, summary={})
    with pytest.raises(ProfileNotFound):
        store.update_profile("nope", name="x")
    assert store.get_profile("nope") is None
    assert count(store, profiles) == 5


def test_images_keep_both_models_embeddings(store: SqlStore) -> None:
    rng = np.random.default_rng(2)
    img = image(rng)
    p = store.create_profile(name="a", external_id=None, metadata={}, images=[img], summary={})
    [rec] = store.list_images(p.id)
    assert set(rec.embeddings) == {KEY, OTHER_KEY}
    assert np.allclose(rec.embeddings[KEY], img.embeddings[KEY], atol=1e-6)
    assert rec.analysis == {"n": 0} and rec.image_bytes is None


def test_failed_write_changes_nothing(store: SqlStore) -> None:
    rng = np.random.default_rng(3)
    p = store.create_profile(name="a", external_id=None, metadata={}, images=[image(rng)], summary={"v": 1})
    with pytest.raises(RuntimeError), store.profile_transaction(p.id) as tx:
        tx.add_image(image(rng))
        tx.set_summary({"v": 2})
        raise RuntimeError("crash half-way through an enrolment")
    after = store.get_profile(p.id)
    assert after.summary == {"v": 1} and after.image_count == 1 and len(store.list_images(p.id)) == 1
    bad = NewImage(analysis={}, embeddings={KEY: np.zeros(7, np.float32)})  # wrong dimension: fails mid-create
    with pytest.raises(StatementError):
        store.create_profile(name="half", external_id=None, metadata={}, images=[image(rng), bad], summary={})
    assert count(store, profiles) == 1 and count(store, images) == 1 and count(store, embeddings) == 2


def test_concurrent_enrolments_lose_no_image(store: SqlStore) -> None:
    rng = np.random.default_rng(4)
    p = store.create_profile(name="a", external_id=None, metadata={}, images=[image(rng)], summary={"n": 1})
    errors: list[BaseException] = []

    def enrol(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for _ in range(3):
                with store.profile_transaction(p.id) as tx:
                    before = len(tx.images())  # read ...
                    tx.add_image(image(local))  # ... modify ...
                    tx.set_summary({"n": before + 1})  # ... write, from what was read
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=enrol, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = store.get_profile(p.id)
    assert len(store.list_images(p.id)) == 13 and final.image_count == 13
    assert final.summary == {"n": 13}  # no read-modify-write was lost


def test_delete_really_deletes(store: SqlStore) -> None:
    rng = np.random.default_rng(5)
    keep = store.create_profile(name="keep", external_id=None, metadata={}, images=[image(rng)], summary={})
    gone = store.create_profile(name="gone", external_id=None, metadata={}, images=[image(rng), image(rng)], summary={})
    store.delete_profile(gone.id)
    with store.engine.connect() as conn:
        for table in (images, embeddings):
            assert conn.scalar(select(func.count()).select_from(table).where(table.c.profile_id == gone.id)) == 0
    assert store.get_profile(gone.id) is None and store.get_profile(keep.id) is not None
    with pytest.raises(ProfileNotFound):
        store.delete_profile(gone.id)
    assert all(h.profile_id != gone.id for h in store.search(KEY, unit(rng), 10))
    with store.profile_transaction(keep.id) as tx:
        tx.delete_image(tx.images()[0].id)
        tx.set_summary({})
    assert count(store, embeddings) == 0 and store.get_profile(keep.id).image_count == 0


def test_search_finds_the_person_best_per_profile(store: SqlStore) -> None:
    rng = np.random.default_rng(6)
    centres = [unit(rng) for _ in range(30)]
    ids = [
        store.create_profile(
            name=str(i), external_id=None, metadata={}, images=[image(rng, c, n) for n in range(3)], summary={}
        ).id
        for i, c in enumerate(centres)
    ]
    hits = store.search(KEY, unit(rng, centres[7]), 5)
    assert hits[0].profile_id == ids[7] and hits[0].similarity > 0.8
    assert len({h.profile_id for h in hits}) == len(hits) == 5  # one hit per profile
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    assert store.search(OTHER_KEY, unit(rng, centres[7]), 5)[0].similarity < 0.6  # other model, other space


def test_index_refreshes_across_store_instances(database_url: str) -> None:
    """Two stores on one database (as two API worker processes would be): a write through one is visible to the
    other's search, because the in-process index checks the database's generation counter."""
    rng = np.random.default_rng(7)
    a, b = open_store(database_url), open_store(database_url)
    try:
        centre = unit(rng)
        assert b.search(KEY, centre, 3) == []
        p = a.create_profile(name="x", external_id=None, metadata={}, images=[image(rng, centre)], summary={})
        assert [h.profile_id for h in b.search(KEY, centre, 3)] == [p.id]
        a.delete_profile(p.id)
        assert b.search(KEY, centre, 3) == []
    finally:
        a.close()
        b.close()


def test_export_import_round_trip(store: SqlStore, database_url: str) -> None:
    rng = np.random.default_rng(8)
    p = store.create_profile(
        name="ada", external_id="e1", metadata={"k": "v"}, images=[image(rng), image(rng)], summary={"description": "x"}
    )
    docs = list(store.export_profiles())
    assert len(docs) == 1 and "image_bytes" not in str(docs[0])
    store.delete_profile(p.id)
    restored = store.import_profile(docs[0])
    assert restored.id == p.id and restored.name == "ada" and restored.external_id == "e1"
    assert restored.summary == {"description": "x"} and restored.image_count == 2
    again = store.export_profile(p.id)
    assert [i["id"] for i in again["images"]] == [i["id"] for i in docs[0]["images"]]
    for before, after in zip(docs[0]["images"], again["images"], strict=True):
        assert before["analysis"] == after["analysis"]
        for key in (KEY, OTHER_KEY):
            assert np.allclose(before["embeddings"][key], after["embeddings"][key], atol=1e-6)
    assert [h.profile_id for h in store.search(KEY, np.asarray(docs[0]["images"][0]["embeddings"][KEY]), 1)] == [p.id]
    with pytest.raises(InvalidRequest):
        store.import_profile({"format": "something else"})


def test_migrations_idempotent(database_url: str) -> None:
    for _ in range(2):
        s = open_store(database_url)
        assert isinstance(s, SqlStore)
        with s.engine.connect() as conn:
            assert current_revision(conn) == "0001"
        s.close()


def test_sqlite_pragmas(tmp_path) -> None:
    s = open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert isinstance(s, SqlStore)
    with s.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    s.close()
