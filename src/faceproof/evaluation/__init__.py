"""Evaluations with stable report contracts, run on labelled data against the shipped models and calibration.

Why a package of its own: evaluations must never fit anything on the data they measure, and the CLI, CI and the
docs all quote the same report keys, so they live apart from the code that learns parameters (``scripts/``).
"""

from faceproof.evaluation.verification import evaluate_verification

__all__ = ["evaluate_verification"]
