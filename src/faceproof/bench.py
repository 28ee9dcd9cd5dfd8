"""Benchmark the pipeline against face_recognition's classic path, in the same process and run.

Why a ratio and not absolute numbers: this VM's speed drifts by ±30 % between runs; both pipelines measured
interleaved on the same images share that drift, so their ratio is stable. Single thread: ``OMP_NUM_THREADS=1``
and ``cv2.setNumThreads(1)`` (MediaPipe starts its own threads regardless; see the notes).

The classic path is ``face_recognition.load_image_file`` + ``face_locations(model="hog", upsample=1)`` +
``face_encodings`` (dlib HOG detection + 5-point alignment + 128-d descriptor), i.e. the default of that library.

Authenticity is timed signal by signal on the same analyses (``authenticity: <signal>``, and the whole
``authenticity: all signals + verdict``): what each detector costs, so a new one is weighed against its budget.
The signals run in report order on one input, as in the engine, so work they share is paid by the first that
needs it: ``generated_net`` carries the crop backbone's pass, ``replay_net`` only its own head on that pass.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "images"


def default_images() -> list[Path]:
    return [*sorted(FIXTURES.glob("df*.jpg"))[:6], FIXTURES / "astronaut_01.jpg"]


def _figures(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"median_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95)), "n": int(arr.size)}


def run_benchmark(images: list[Path], repeats: int = 5, warmup: int = 1) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    import face_recognition

    from faceproof.analysis import analyze
    from faceproof.authenticity.engine import SIGNALS, assess, signal_input

    stages: dict[str, list[float]] = {}
    totals: list[float] = []
    classic: list[float] = []
    for path in images:
        data = path.read_bytes()
        for i in range(warmup + repeats):
            start = time.perf_counter()
            result = analyze(data)
            ours = (time.perf_counter() - start) * 1000.0
            start = time.perf_counter()
            rgb = face_recognition.load_image_file(str(path))
            boxes = face_recognition.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
            face_recognition.face_encodings(rgb, boxes)
            theirs = (time.perf_counter() - start) * 1000.0
            if i < warmup:
                continue
            totals.append(ours)
            classic.append(theirs)
            for stage, ms in result.timings_ms.items():
                if stage != "total":
                    stages.setdefault(stage, []).append(ms)
            inp = signal_input(result)
            for signal in SIGNALS:
                start = time.perf_counter()
                name = signal(inp).signal
                stages.setdefault(f"authenticity: {name}", []).append((time.perf_counter() - start) * 1000.0)
            start = time.perf_counter()
            assess(result)
            stages.setdefault("authenticity: all signals + verdict", []).append((time.perf_counter() - start) * 1000.0)
    report_stages = {stage: _figures(v) for stage, v in stages.items()}
    report_stages["faceproof end to end"] = _figures(totals)
    report_stages["face_recognition classic path"] = _figures(classic)
    ours_median = float(np.median(totals))
    classic_median = float(np.median(classic))
    return {
        "images": len(images),
        "repeats": repeats,
        "stages": report_stages,
        "faceproof_total_median_ms": ours_median,
        "classic_total_median_ms": classic_median,
        "speedup": classic_median / ours_median,
    }
