"""In-process nearest-neighbour index for the embedded (SQLite) backend.

Why in-process, and why usearch: this Python's ``sqlite3`` cannot load extensions (sqlite-vec would need a second
SQLite binding and is an exact scan: ~70 ms per query at 100k vectors), and of the HNSW libraries measured
(usearch, hnswlib, faiss; docs/performance.md), which reach the same recall, usearch is the one already pinned,
supports removal and incremental adds, and answers a query over 100k vectors in about a millisecond.

Small collections use exact search: below :data:`EXACT_BELOW` vectors a matrix product is as fast as any graph
and exact by construction.

The index is a cache of the database. It records the store ``generation`` it reflects; the store applies its own
committed writes to it incrementally (:meth:`VectorIndex.apply`) and rebuilds it from the database when another
writer (another process) has moved the generation on (:meth:`VectorIndex.rebuild`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

EXACT_BELOW = 2000
#: HNSW search breadth for galleries up to 512k vectors. usearch's default (64) finds the exact nearest vector for
#: only 87 % of queries at 250k clustered vectors, 128 for 97 %, 256 for 99 % at 3 ms (docs/performance.md).
EXPANSION_SEARCH = 256
#: Larger galleries search wider, one candidate per this many vectors: at 1M vectors a breadth of 256 finds the
#: right identity first for 86 % of queries, 512 for 98 % at 10 ms p50, 1024 for 99.7 % at ~20 ms.
VECTORS_PER_CANDIDATE = 2000
MAX_EXPANSION_SEARCH = 1024


def expansion_for(size: int) -> int:
    """The HNSW search breadth for a gallery of ``size`` vectors (recall falls as a graph grows at fixed breadth)."""
    return min(MAX_EXPANSION_SEARCH, max(EXPANSION_SEARCH, size // VECTORS_PER_CANDIDATE))


@dataclass(frozen=True)
class Entry:
    profile_id: str
    image_id: str


def _normalised(vectors: np.ndarray) -> np.ndarray:
    matrix = np.array(vectors, dtype=np.float32, ndmin=2, copy=True)
    if matrix.size:
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return matrix


class VectorIndex:
    """Cosine kNN over (profile, image) entries of one embedding model; thread-safe.

    Entries get integer keys. Exact mode keeps the vectors in a dict (a matrix is stacked lazily for search); HNSW
    mode keeps them only in the usearch graph. An index switches to HNSW when it grows past :data:`EXACT_BELOW`
    and stays HNSW until the next rebuild.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}
        self._key_of: dict[str, int] = {}  # image id -> key
        self._next_key = 0
        self._vectors: dict[int, np.ndarray] = {}  # exact mode only
        self._stacked: tuple[np.ndarray, np.ndarray] | None = None  # (keys, matrix) cache of _vectors
        self._hnsw: Any = None
        self.generation = -1

    def __len__(self) -> int:
        return len(self._entries)

    def rebuild(self, entries: list[Entry], vectors: np.ndarray, generation: int) -> None:
        """Replace the whole content (the database's rows at ``generation``)."""
        matrix = _normalised(vectors) if len(entries) else np.zeros((0, 0), np.float32)
        keys = np.arange(len(entries), dtype=np.uint64)
        hnsw = _new_hnsw(matrix.shape[1], keys, matrix) if len(entries) >= EXACT_BELOW else None
        with self._lock:
            self._entries = dict(enumerate(entries))
            self._key_of = {e.image_id: i for i, e in enumerate(entries)}
            self._next_key = len(entries)
            self._hnsw = hnsw
            self._vectors = {} if hnsw is not None else dict(enumerate(matrix))
            self._stacked = None
            self.generation = generation

    def apply(self, added: list[tuple[Entry, np.ndarray]], removed_images: set[str], generation: int) -> None:
        """Apply one committed write (the one that moved the database from ``generation - 1`` to ``generation``)."""
        with self._lock:
            for image_id in removed_images:
                key = self._key_of.pop(image_id, None)
                if key is None:
                    continue
                del self._entries[key]
                if self._hnsw is not None:
                    self._hnsw.remove(key)
                else:
                    del self._vectors[key]
            if added:
                matrix = _normalised(np.stack([v for _, v in added]))
                keys = np.arange(self._next_key, self._next_key + len(added), dtype=np.uint64)
                self._next_key += len(added)
                for key, (entry, _) in zip(keys.tolist(), added, strict=True):
                    self._entries[key] = entry
                    self._key_of[entry.image_id] = key
                if self._hnsw is not None:
                    self._hnsw.add(keys, matrix)
                else:
                    self._vectors.update(zip(keys.tolist(), matrix, strict=True))
                    if len(self._vectors) >= EXACT_BELOW:
                        all_keys = np.fromiter(self._vectors, dtype=np.uint64, count=len(self._vectors))
                        self._hnsw = _new_hnsw(matrix.shape[1], all_keys, np.stack(list(self._vectors.values())))
                        self._vectors = {}
            self._stacked = None
            self.generation = generation

    def search(self, vector: np.ndarray, k: int, expansion: int | None = None) -> list[tuple[Entry, float]]:
        """The ``k`` nearest entries with their cosine similarity, best first. ``expansion`` overrides the HNSW
        search breadth (default: :func:`expansion_for` the current size; benchmarks sweep it)."""
        q = _normalised(vector).reshape(-1)
        with self._lock:
            k = min(k, len(self._entries))
            if k == 0:
                return []
            if self._hnsw is not None:
                self._hnsw.expansion_search = expansion or expansion_for(len(self._entries))
                found = self._hnsw.search(q, k)
                pairs = zip(found.keys.tolist(), (1.0 - found.distances).tolist(), strict=True)
                return [(self._entries[key], sim) for key, sim in pairs]
            if self._stacked is None:
                keys = np.fromiter(self._vectors, dtype=np.int64, count=len(self._vectors))
                self._stacked = (keys, np.stack(list(self._vectors.values())))
            keys, matrix = self._stacked
            sims = matrix @ q
            top = np.argpartition(-sims, k - 1)[:k]
            top = top[np.argsort(-sims[top])]
            return [(self._entries[int(keys[i])], float(sims[i])) for i in top]


def _new_hnsw(ndim: int, keys: np.ndarray, matrix: np.ndarray) -> Any:
    from usearch.index import Index

    index = Index(ndim=ndim, metric="cos", dtype="f32", expansion_search=EXPANSION_SEARCH)
    index.add(keys, matrix)
    return index
