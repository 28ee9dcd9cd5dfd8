"""Bulk work - enrolling a photo archive, evaluating a data set - split into tasks of many images that run inline,
on a local process pool or on Ray (:mod:`faceproof.batch.engine`), with identical results."""

from faceproof.batch.engine import BatchFailed, Engine, EngineName, open_engine

__all__ = ["BatchFailed", "Engine", "EngineName", "open_engine"]
