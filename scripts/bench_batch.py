"""Benchmark batch enrolment: images per second of ``faceproof enroll-dir`` per engine and worker count.

Builds a folder tree from a manifest (``file,label,identity``): each real identity's photos in its own folder, each
other image in a folder of its own (they are analysed and refused by the authenticity gate: the same work). Every
configuration runs ``faceproof enroll-dir --json`` as a fresh process on a fresh SQLite database, so the figures
include start-up (Python imports, Ray start, model loading in every worker) - what a user waits for. The
configurations are interleaved and repeated; the median per configuration is reported, with the ratio to one
inline worker measured in the same run. The rows must be identical across configurations (checked).

Usage::

    .venv/bin/python scripts/bench_batch.py --manifest ../shared/data/manifest.csv --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    "local, 1 worker (inline)": ["--engine", "local", "--workers", "1"],
    "local, 2 workers (process pool)": ["--engine", "local", "--workers", "2"],
    "ray, 1 worker": ["--engine", "ray", "--workers", "1"],
    "ray, 2 workers": ["--engine", "ray", "--workers", "2"],
}


def build_tree(manifest: Path, out: Path) -> int:
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        folder = row["identity"] if row["label"] == "real" and row["identity"] else f"other_{i:04d}"
        target = out / folder / Path(row["file"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to((manifest.parent / row["file"]).resolve())
    return len(rows)


def run_once(tree: Path, options: list[str], data_dir: Path) -> tuple[float, list[tuple[str, str, str, str]]]:
    faceproof = str(Path(sys.executable).with_name("faceproof"))
    env = {**os.environ, "FACEPROOF_DATA_DIR": str(data_dir), "FACEPROOF_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    done = subprocess.run(
        [faceproof, "enroll-dir", "--json", *options, str(tree)], env=env, capture_output=True, check=True, text=True
    )
    elapsed = time.perf_counter() - started
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    return elapsed, [(r["person"], r["file"], r["status"], r["reason"]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in args.configs}
    reference: list[tuple[str, str, str, str]] | None = None
    with tempfile.TemporaryDirectory(prefix="faceproof-bench-batch-") as tmp:
        tree = Path(tmp) / "people"
        n = build_tree(args.manifest, tree)
        for repeat in range(args.repeats):
            for name in args.configs:
                elapsed, rows = run_once(tree, CONFIGS[name], Path(tmp) / f"db-{repeat}-{len(times[name])}-{name[:5]}")
                reference = reference or rows
                if rows != reference:
                    raise SystemExit(f"{name}: rows differ from the first configuration's")
                times[name].append(elapsed)
                print(f"repeat {repeat + 1}: {name}: {elapsed:.1f} s ({n / elapsed:.2f} images/s)", flush=True)
    base = statistics.median(times[args.configs[0]])
    report = {
        "images": n,
        "accepted": sum(r[2] == "accepted" for r in reference or []),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "configs": {
            name: {
                "median_s": statistics.median(t),
                "images_per_s": n / statistics.median(t),
                "speedup_vs_first": base / statistics.median(t),
                "runs_s": t,
            }
            for name, t in times.items()
        },
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
