"""Benchmark the pipeline against face_recognition's classic path, in the same process and run.

Why a ratio and not absolute numbers: this VM's speed drifts by ±30 % between runs; both pipelines measured
interleaved on the same images share that drift, so their ratio is stable. Single thread: ``OMP_NUM_THREADS=1``
and ``cv2.setNumThreads(1)`` (MediaPipe starts its own threads regardless; see the notes).

The classic path is ``face_recognition.load_image_file`` + ``face_locations(model="hog", upsample=1)`` +
``face_encodings`` (dlib HOG detection + 5-point alignment + 128-d descriptor), i.e. the default of that library;
``face_recognition encoding alone`` is its ``face_encodings`` call by itself, on the boxes HOG found.

What is timed, per image and run, interleaved with the classic path:

- ``analyze`` end to end and its stages (decode, detect, sface, dlib, mesh, measure).
- Authenticity signal by signal on the same analysis (``authenticity: <signal>``), and the whole step
  (``authenticity: all signals + verdict``): what each detector costs, so a new one is weighed against its budget.
  The signals run in report order on one input, as in the engine, so work they share is paid by the first that
  needs it: ``generated_net`` carries the crop backbone's pass, ``replay_net`` only its own head on that pass, and
  ``learned`` reads the SFace activations the analysis pooled from its identity pass (paid in ``sface``).
- Verification against a profile enrolled from two fixture photos, in process, step by step: the analysis it runs
  (no dlib), the probe (every single-image signal and the inner-face template), the decision (dlib and the
  outer-face template when the swap check applies, the swap check, the verdict); ``verify: region templates`` is
  both region templates alone, what an enrolment photo pays.
- The whole verify request over HTTP (``verify over HTTP``): a real uvicorn server on loopback in this process
  (its event loop on a thread of its own), the photo posted to ``/profiles/{id}/verify`` with httpx and the JSON
  answer read: upload, multipart parsing, the work queue, decode, detect, embed, authenticity, decision, JSON.
  The same times are also reported split by whether the probe matched the profile: a match pays dlib and the
  outer-face template of the swap check, someone else's photo neither.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "images"
#: The profile every verification is run against (both photos pass the enrolment gates).
ENROL = ("df01_01.jpg", "df01_02.jpg")
ANALYZE = "faceproof analyze end to end"
CLASSIC = "face_recognition classic path"
CLASSIC_ENCODING = "face_recognition encoding alone"
HTTP = "verify over HTTP"
HTTP_MATCHED = "verify over HTTP: probes that match the profile"
HTTP_OTHER = "verify over HTTP: other people"


def default_images() -> list[Path]:
    return [*sorted(FIXTURES.glob("df*.jpg"))[:6], FIXTURES / "astronaut_01.jpg"]


def _figures(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"median_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95)), "n": int(arr.size)}


class _Stages:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}

    @contextmanager
    def time(self, stage: str, keep: bool = True) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if keep:
            self.ms.setdefault(stage, []).append((time.perf_counter() - start) * 1000.0)


@contextmanager
def _http_server(data_dir: Path) -> Iterator[str]:
    """The faceproof API on a free loopback port, served by uvicorn from a thread of this process."""
    import uvicorn

    from faceproof.api.app import create_app
    from faceproof.config import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    app = create_app(Settings(data_dir=data_dir, warm_models=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="bench-http", daemon=True)
    quiet = [logging.getLogger(name) for name in ("faceproof.access", "httpx")]  # a line per request otherwise
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the benchmark's HTTP server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def run_benchmark(images: list[Path], repeats: int = 5, warmup: int = 1, http: bool = True) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    import face_recognition
    import httpx

    from faceproof.analysis import analyze
    from faceproof.authenticity import consistency
    from faceproof.authenticity.engine import SIGNALS, assess, signal_input
    from faceproof.config import Settings
    from faceproof.service import Service, prepare_probe, verify_probe

    stages = _Stages()
    with tempfile.TemporaryDirectory(prefix="faceproof-bench-") as tmp:
        service = Service.open(Settings(data_dir=Path(tmp)))
        profile, _ = service.create_profile([(FIXTURES / name).read_bytes() for name in ENROL], name="bench")
        enrolled = [img.embeddings for img in service.store.list_images(profile.id)]
        far = service.settings.far_target
        with _http_server(Path(tmp)) if http else _nothing() as base, httpx.Client(timeout=120) as client:
            for path in images:
                data = path.read_bytes()
                for i in range(warmup + repeats):
                    keep = i >= warmup
                    with stages.time(ANALYZE, keep):
                        result = analyze(data)
                    with stages.time(CLASSIC, keep):
                        rgb = face_recognition.load_image_file(str(path))
                        boxes = face_recognition.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
                        with stages.time(CLASSIC_ENCODING, keep):
                            face_recognition.face_encodings(rgb, boxes)
                    if base is not None:
                        with stages.time(HTTP, keep):
                            response = client.post(f"{base}/profiles/{profile.id}/verify", files={"file": data})
                            response.raise_for_status()
                        if keep:  # the same time again, by whether the swap check (and its outer face) ran
                            split = HTTP_MATCHED if response.json()["same_person"] else HTTP_OTHER
                            stages.ms.setdefault(split, []).append(stages.ms[HTTP][-1])
                    if not keep:
                        continue
                    for stage, ms in result.timings_ms.items():
                        if stage != "total":
                            stages.ms.setdefault(stage, []).append(ms)
                    inp = signal_input(result)
                    for signal in SIGNALS:
                        start = time.perf_counter()
                        name = signal(inp).signal
                        stages.ms.setdefault(f"authenticity: {name}", []).append((time.perf_counter() - start) * 1e3)
                    with stages.time("authenticity: all signals + verdict"):
                        assess(result)
                    with stages.time("verify: analysis (no dlib)"):
                        probe_analysis = service.analyze(data, with_dlib=False)
                    with stages.time("verify: probe (signals + inner template)"):
                        probe = prepare_probe(probe_analysis)
                    with stages.time("verify: decision (dlib, outer template when needed; swap check, verdict)"):
                        verify_probe(probe, profile, enrolled, far)
                    s = probe_analysis.subject
                    if s.landmarks is not None:
                        with stages.time("verify: region templates"):
                            consistency.region_embeddings(probe_analysis.image.rgb, s.face.keypoints, s.landmarks)
        service.close()
    totals = [ANALYZE, HTTP, CLASSIC, CLASSIC_ENCODING]  # reported last, after the stages they are made of
    order = [stage for stage in stages.ms if stage not in totals] + [t for t in totals if t in stages.ms]
    report_stages = {stage: _figures(stages.ms[stage]) for stage in order}
    median = {stage: fig["median_ms"] for stage, fig in report_stages.items()}
    ours = median[ANALYZE]
    ratios = {
        "analyze vs classic path": median[CLASSIC] / ours,
    }
    if HTTP in median:
        ratios[f"{HTTP} vs classic path"] = median[CLASSIC] / median[HTTP]
        ratios[f"{HTTP} vs classic encoding alone"] = median[CLASSIC_ENCODING] / median[HTTP]
    return {
        "images": len(images),
        "repeats": repeats,
        "stages": report_stages,
        "faceproof_total_median_ms": ours,
        "classic_total_median_ms": median[CLASSIC],
        "speedup": median[CLASSIC] / ours,
        "ratios": ratios,
    }


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
