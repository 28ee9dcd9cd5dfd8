"""The storage contract, run against both backends: SQLite (embedded) and a real PostgreSQL + pgvector."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError

from faceproof.errors import DuplicateExternalId, ImageNotFound, InvalidRequest, ProfileNotFound
from faceproof.storage import ImageRecord, NewImage, open_store
from faceproof.storage import vector_index as vector_index_module
from faceproof.storage.schema import embeddings, images, profiles
from faceproof.storage.sql import SqlStore
from faceproof.storage.sqlite import SqliteStore
from faceproof.storage.vector_index import VectorIndex

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
        store.update_profile(created[1].id, name=None)  # type: ignore[arg-type]  # a JSON null from the API
    assert store.update_profile(created[1].id, external_id=None).external_id is None
    assert store.update_profile(created[1].id).name == "p1"  # nothing to change
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
        assert s.schema_revision() == "0002" and s.migrate() == "0002"
        s.close()


def test_sqlite_pragmas(tmp_path) -> None:
    s = open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert isinstance(s, SqlStore)
    with s.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    s.close()


def _summarize(imgs: list[ImageRecord]) -> dict:
    return {"images": sorted(i.id for i in imgs)}


def test_add_and_delete_image_replace_the_summary(store: SqlStore) -> None:
    rng = np.random.default_rng(9)
    p = store.create_profile(name="a", external_id=None, metadata={}, images=[image(rng)], summary={})
    other = store.create_profile(name="b", external_id=None, metadata={}, images=[image(rng)], summary={})
    first = store.list_images(p.id)[0].id
    added = store.add_image(p.id, image(rng), _summarize)
    assert store.get_profile(p.id).summary == {"images": sorted([first, added])}
    store.delete_image(p.id, first, _summarize)
    after = store.get_profile(p.id)
    assert after.summary == {"images": [added]} and after.image_count == 1
    with pytest.raises(ImageNotFound):  # another profile's image: refused, nothing changes
        store.delete_image(p.id, store.list_images(other.id)[0].id, _summarize)
    assert len(store.list_images(other.id)) == 1
    with pytest.raises(ProfileNotFound):
        store.add_image("nope", image(rng), _summarize)


def test_search_widens_until_k_profiles(store: SqlStore) -> None:
    """One profile with many near-identical images must not crowd the others out of the top k."""
    rng = np.random.default_rng(10)
    centre = unit(rng)
    crowd = store.create_profile(
        name="crowd", external_id=None, metadata={}, images=[image(rng, centre, n) for n in range(30)], summary={}
    )
    others = {
        store.create_profile(name=str(i), external_id=None, metadata={}, images=[image(rng)], summary={}).id
        for i in range(5)
    }
    hits = store.search(KEY, centre, 4)
    assert hits[0].profile_id == crowd.id and len(hits) == 4 and {h.profile_id for h in hits[1:]} <= others


def test_export_import_json_lines(store: SqlStore) -> None:
    """A full backup as JSON lines (what ``faceproof export`` writes), restored into an emptied database."""
    rng = np.random.default_rng(11)
    for i in range(3):
        store.create_profile(name=f"p{i}", external_id=None, metadata={}, images=[image(rng)], summary={"i": i})
    lines = [json.dumps(doc) for doc in store.export_profiles()]
    before = [(p.id, p.summary, p.image_count) for p in store.list_profiles()[0]]
    for pid, _, _ in before:
        store.delete_profile(pid)
    assert count(store, embeddings) == 0
    for line in lines:
        store.import_profile(json.loads(line))
    assert [(p.id, p.summary, p.image_count) for p in store.list_profiles()[0]] == before
    assert count(store, embeddings) == 6


def _count_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = VectorIndex.rebuild

    def counting(self: VectorIndex, *args, **kwargs) -> None:
        calls.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(VectorIndex, "rebuild", counting)
    return calls


@pytest.mark.parametrize("exact_below", [2000, 8], ids=["exact", "hnsw"])
def test_sqlite_index_follows_own_writes_incrementally(
    tmp_path, monkeypatch: pytest.MonkeyPatch, exact_below: int
) -> None:
    """The store's own writes update its indexes in place (no rebuild), in exact mode and in HNSW mode."""
    monkeypatch.setattr(vector_index_module, "EXACT_BELOW", exact_below)
    rebuilds = _count_rebuilds(monkeypatch)
    store = open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert isinstance(store, SqliteStore)
    rng = np.random.default_rng(12)
    try:
        centres = [unit(rng) for _ in range(6)]
        ids = [
            store.create_profile(name="", external_id=None, metadata={}, images=[image(rng, c)], summary={}).id
            for c in centres[:4]
        ]
        assert store.search(KEY, centres[0], 1)[0].profile_id == ids[0]
        assert store.search(OTHER_KEY, centres[0], 1)  # a second model has its own index
        assert len(rebuilds) == 2
        for c in centres[4:]:  # crosses EXACT_BELOW=8 in the "hnsw" case
            ids.append(store.create_profile(name="", external_id=None, metadata={}, images=[], summary={}).id)
            for _ in range(3):
                store.add_image(ids[-1], image(rng, c), _summarize)
        store.delete_profile(ids[0])
        assert store.search(KEY, centres[5], 1)[0].profile_id == ids[5]
        assert all(h.profile_id != ids[0] for h in store.search(KEY, centres[0], 10))
        assert store.search(KEY, centres[1], 1)[0].profile_id == ids[1]
        assert len(rebuilds) == 2
        assert store._indexes[KEY].generation == store.generation()
        assert (store._indexes[KEY]._hnsw is not None) == (exact_below == 8)
    finally:
        store.close()


def test_search_breadth_grows_with_the_gallery() -> None:
    """Measured at 1M clustered vectors (docs/performance.md): 256 finds the right identity first for 86 % of
    queries, ~500 for 98 %; small galleries keep 256, huge ones are capped."""
    assert vector_index_module.expansion_for(100_000) == 256
    assert vector_index_module.expansion_for(1_000_000) == 500
    assert vector_index_module.expansion_for(10_000_000) == 1024


def test_sqlite_index_refreshes_after_another_process_writes(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    store = open_store(url)
    rng = np.random.default_rng(13)
    try:
        store.create_profile(name="", external_id=None, metadata={}, images=[image(rng)], summary={})
        assert len(store.search(KEY, unit(rng), 5)) == 1  # index built
        writer = (
            "import sys, numpy as np\n"
            "from faceproof.storage import NewImage, open_store\n"
            "v = np.ones(128, np.float32) / np.sqrt(128)\n"
            "s = open_store(sys.argv[1])\n"
            f"p = s.create_profile(name='other', external_id=None, metadata={{}}, summary={{}}, "
            f"images=[NewImage(analysis={{}}, embeddings={{{KEY!r}: v}})])\n"
            "print(p.id)\n"
        )
        done = subprocess.run([sys.executable, "-c", writer, url], capture_output=True, text=True, check=True)
        hits = store.search(KEY, np.ones(128, np.float32), 1)
        assert hits[0].profile_id == done.stdout.strip() and hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    finally:
        store.close()


@pytest.mark.parametrize("exact_below", [2000, 8], ids=["exact", "hnsw"])
def test_sqlite_index_replays_other_stores_writes_from_the_change_log(
    tmp_path, monkeypatch: pytest.MonkeyPatch, exact_below: int
) -> None:
    """A store whose index is behind (another process wrote) applies only the generations it missed, read from
    the change log, and answers like a store that rebuilt from scratch; when the log no longer covers the gap it
    rebuilds."""
    monkeypatch.setattr(vector_index_module, "EXACT_BELOW", exact_below)
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    reader, writer = open_store(url), open_store(url)
    assert isinstance(reader, SqliteStore) and isinstance(writer, SqliteStore)
    rng = np.random.default_rng(14)
    try:
        centres = [unit(rng) for _ in range(12)]

        def enrol(centre: np.ndarray) -> str:
            new = [image(rng, centre)]
            return writer.create_profile(name="", external_id=None, metadata={}, images=new, summary={}).id

        ids = [enrol(c) for c in centres[:4]]
        assert reader.search(KEY, centres[0], 1)[0].profile_id == ids[0]
        assert reader.refreshes == {"incremental": 0, "rebuild": 1}
        ids += [enrol(c) for c in centres[4:]]  # 8 more profiles, one with a second image, then two deletions
        writer.add_image(ids[5], image(rng, centres[5]), lambda _imgs: {})
        writer.delete_profile(ids[0])
        writer.delete_profile(ids[6])
        queries = [unit(rng, c, noise=0.1) for c in centres]
        replayed = [[(h.profile_id, h.image_id) for h in reader.search(KEY, q, 5)] for q in queries]
        assert reader.refreshes == {"incremental": 1, "rebuild": 1}
        assert reader._indexes[KEY].generation == reader.generation() and len(reader._indexes[KEY]) == 11
        assert (reader._indexes[KEY]._hnsw is not None) == (exact_below == 8)
        fresh = open_store(url)
        try:
            rebuilt = [[(h.profile_id, h.image_id) for h in fresh.search(KEY, q, 5)] for q in queries]
        finally:
            fresh.close()
        assert replayed == rebuilt
        assert all(ids[0] not in {p for p, _ in r} and ids[6] not in {p for p, _ in r} for r in replayed)

        reader.change_log_keep = writer.change_log_keep = 2  # the writer prunes all but the last 2 generations
        for c in centres[:3]:
            enrol(c)
        assert reader.search(KEY, centres[0], 1)
        assert reader.refreshes == {"incremental": 1, "rebuild": 2}, "a gap the log no longer covers: rebuild"
    finally:
        reader.close()
        writer.close()


def test_concurrent_first_open_migrates_once(database_url: str) -> None:
    """Several workers starting together on an empty database (``faceproof serve --workers N``): migrations are
    serialised by the schema lock, so none of them fails on a half-created schema."""
    stores: list[SqlStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            s = open_store(database_url)
            assert isinstance(s, SqlStore)
            stores.append(s)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert {s.schema_revision() for s in stores} == {"0002"}
    finally:
        for s in stores:
            s.close()
