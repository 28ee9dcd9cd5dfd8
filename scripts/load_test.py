"""Load test: concurrent clients enrolling, verifying and identifying against a real faceproof server.

For each worker count it starts ``faceproof serve --workers N`` on a free loopback port with an empty temporary
data folder, warms every worker up (models load lazily, on a worker's first analysis), then lets ``--clients``
threads cycle through enrol -> verify -> identify with the fixture photos until ``--requests`` requests are done
or ``--duration-s`` has passed, whichever comes first. It then stops the server and prints, per worker count and
per endpoint: throughput, p50/p95/p99 latency, and the outcomes - success, 4xx, 503 from the bounded queue
(``overloaded``/``timeout``, the server shedding load as designed), other 5xx, and transport errors.

Nothing leaves 127.0.0.1 and everything stops by itself. Usage::

    .venv/bin/python scripts/load_test.py --workers 1 2 --clients 8 --requests 200 --duration-s 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' server helper, as bench_identify.py uses the tests' PostgreSQL helper
from tests.server import running_server  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "images"
#: Photos that pass the enrolment gates on their own; each verify/identify uses another photo of someone.
ENROL_PHOTOS = ("df01_01.jpg", "df02_01.jpg", "df01_02.jpg", "df02_02.jpg")
PROBE_PHOTOS = ("df01_03.jpg", "df02_02.jpg", "df01_02.jpg", "df10_01.jpg")
START_TIMEOUT_S = 90
REQUEST_TIMEOUT_S = 120
SHED_CODES = {"overloaded", "timeout"}


@contextmanager
def serve(workers: int, log_path: Path) -> Iterator[str]:
    """``faceproof serve`` with ``workers`` processes on loopback and an empty data folder; stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="faceproof-load-") as data_dir:
        env = {k: v for k, v in os.environ.items() if k != "FACEPROOF_DATABASE_URL"}
        env.update({"FACEPROOF_DATA_DIR": data_dir, "OMP_NUM_THREADS": "1"})
        faceproof = Path(sys.executable).with_name("faceproof")
        # Create and migrate the database before the clock starts, so worker start-up is not part of the figures
        # (workers starting together on an empty folder serialise their migration; see docs/reliability.md).
        subprocess.run([str(faceproof), "profiles", "list", "--json"], env=env, check=True, capture_output=True)
        serve_args = ("--workers", str(workers))
        with running_server(Path(data_dir), env, log_path, cli=True, serve_args=serve_args,
                            start_timeout_s=START_TIMEOUT_S) as (base, _):  # fmt: skip
            yield base


def _photo(name: str, field_name: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field_name, (name, (FIXTURES / name).read_bytes(), "image/jpeg"))]


@dataclass
class Results:
    """Latencies and outcomes per endpoint, shared by the client threads."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: int = 0

    def take_ticket(self, limit: int) -> bool:
        with self.lock:
            if self.issued >= limit:
                return False
            self.issued += 1
            return True

    def record(self, endpoint: str, outcome: str, elapsed_ms: float) -> None:
        with self.lock:
            self.outcomes[endpoint][outcome] += 1
            if outcome == "ok":
                self.latencies_ms[endpoint].append(elapsed_ms)


def _outcome(response: httpx.Response) -> str:
    if response.is_success:
        return "ok"
    if response.status_code == 503:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = ""
        return "shed_503" if code in SHED_CODES else "5xx"
    return "5xx" if response.status_code >= 500 else "4xx"


def _call(http: httpx.Client, results: Results, endpoint: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    started = time.perf_counter()
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TransportError:
        results.record(endpoint, "transport_error", 0.0)
        raise
    results.record(endpoint, _outcome(response), 1000 * (time.perf_counter() - started))
    return response


def _client(base: str, number: int, targets: list[str], results: Results, limit: int, stop_at: float) -> None:
    """enrol -> verify -> identify, over and over, until the shared request budget or the time is spent."""
    step = number
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        while time.monotonic() < stop_at and results.take_ticket(limit):
            kind = step % 3
            photo = PROBE_PHOTOS[step % len(PROBE_PHOTOS)]
            try:
                if kind == 0:
                    name = ENROL_PHOTOS[step % len(ENROL_PHOTOS)]
                    _call(http, results, "POST /profiles", "POST", "/profiles", files=_photo(name, "files"))
                elif kind == 1:
                    target = targets[step % len(targets)]
                    url = f"/profiles/{target}/verify"
                    _call(http, results, "POST /profiles/{id}/verify", "POST", url, files=_photo(photo, "file"))
                else:
                    _call(http, results, "POST /identify", "POST", "/identify", files=_photo(photo, "file"))
            except httpx.TransportError:
                time.sleep(0.1)
            step += 1


def _warm_up(base: str, workers: int, clients: int) -> list[str]:
    """Enrol the verify targets and make every worker load its models (not measured)."""
    targets: list[str] = []
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        for name in ENROL_PHOTOS[:2]:
            response = http.post("/profiles", files=_photo(name, "files"), data={"name": name})
            response.raise_for_status()
            targets.append(response.json()["profile"]["id"])

    def analyse() -> None:
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
            http.post("/identify", files=_photo(PROBE_PHOTOS[0], "file"))

    # Concurrent requests spread over the workers' accept loops, so each one loads its models now.
    for _ in range(2):
        threads = [threading.Thread(target=analyse) for _ in range(max(clients, 2 * workers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return targets


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(workers: int, clients: int, requests: int, duration_s: float, log_path: Path) -> dict[str, Any]:
    with serve(workers, log_path) as base:
        targets = _warm_up(base, workers, clients)
        results = Results()
        started = time.monotonic()
        stop_at = started + duration_s
        threads = [
            threading.Thread(target=_client, args=(base, n, targets, results, requests, stop_at))
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    rows = []
    for endpoint in sorted(results.outcomes):
        lat = results.latencies_ms[endpoint]
        out = results.outcomes[endpoint]
        rows.append(
            {
                "endpoint": endpoint,
                "requests": sum(out.values()),
                "ok": out["ok"],
                "throughput_rps": out["ok"] / elapsed,
                "p50_ms": _percentile(lat, 50),
                "p95_ms": _percentile(lat, 95),
                "p99_ms": _percentile(lat, 99),
                "4xx": out["4xx"],
                "shed_503": out["shed_503"],
                "5xx": out["5xx"],
                "transport_errors": out["transport_error"],
            }
        )
    total_ok = sum(r["ok"] for r in rows)
    return {
        "workers": workers,
        "clients": clients,
        "elapsed_s": elapsed,
        "throughput_rps": total_ok / elapsed,
        "rows": rows,
    }


def markdown(reports: list[dict[str, Any]]) -> str:
    lines = [
        "| workers | endpoint | requests | ok/s | p50 ms | p95 ms | p99 ms | 4xx | 503 shed | other 5xx | transport |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        for r in report["rows"]:
            lines.append(
                f"| {report['workers']} | `{r['endpoint']}` | {r['requests']} | {r['throughput_rps']:.2f} | "
                f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['4xx']} | {r['shed_503']} | "
                f"{r['5xx']} | {r['transport_errors']} |"
            )
        total = sum(r["requests"] for r in report["rows"])
        lines.append(
            f"| {report['workers']} | **all** | {total} | {report['throughput_rps']:.2f} | | | | | | | "
            f"({report['elapsed_s']:.0f} s) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts to test")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--requests", type=int, default=200, help="requests per worker count (all clients)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="time cap per worker count")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--server-log", type=Path, default=Path(tempfile.gettempdir()) / "faceproof-load.log")
    args = parser.parse_args()

    reports = []
    for workers in args.workers:
        print(f"workers={workers}: {args.clients} clients, <= {args.requests} requests, <= {args.duration_s:g} s")
        reports.append(run(workers, args.clients, args.requests, args.duration_s, args.server_log))
    print(markdown(reports))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))
    bad = sum(r["5xx"] + r["transport_errors"] for report in reports for r in report["rows"])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
