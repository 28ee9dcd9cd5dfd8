"""`faceproof bench` on one real photo: every stage it reports is timed, the verify request over HTTP is split by
whether the probe matched, and the ratios against the classic path are computed from the same run."""

from __future__ import annotations

from faceproof.bench import ANALYZE, CLASSIC, CLASSIC_ENCODING, HTTP, HTTP_MATCHED, HTTP_OTHER, run_benchmark
from tests.conftest import fixture_path


def test_one_run_times_every_stage_and_splits_verification_by_match() -> None:
    report = run_benchmark([fixture_path("df01_03.jpg"), fixture_path("df02_01.jpg")], repeats=1, warmup=0)
    stages = report["stages"]
    for stage in (ANALYZE, CLASSIC, CLASSIC_ENCODING, HTTP, "sface", "authenticity: all signals + verdict"):
        assert stages[stage]["n"] == 2 and stages[stage]["median_ms"] > 0, stage
    # df01_03 is the enrolled person (the profile is df01_01 + df01_02), df02_01 someone else
    assert stages[HTTP_MATCHED]["n"] == 1 and stages[HTTP_OTHER]["n"] == 1
    assert report["ratios"]["analyze vs classic path"] == stages[CLASSIC]["median_ms"] / stages[ANALYZE]["median_ms"]
    assert report["ratios"][f"{HTTP} vs classic encoding alone"] > 0
