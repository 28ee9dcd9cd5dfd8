"""``faceproof eval ...``: evaluations with stable report contracts (they never fit anything on the data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from faceproof.cli.common import console, progress_bar

eval_app = typer.Typer(help="Evaluate on a labelled set; writes a JSON report.", no_args_is_help=True)


@eval_app.command("verification")
def verification(
    pairs: Annotated[Path, typer.Option(help="CSV with file_a,file_b,same_person (1/0).", exists=True)],
    root: Annotated[Path, typer.Option(help="Folder the CSV's paths are relative to.", exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option(help="Where to write REPORT.json.")],
    plot: Annotated[Path | None, typer.Option(help="Optional ROC plot (PNG).")] = None,
    far: Annotated[float, typer.Option(help="Operating point (false-accept rate).")] = 1e-3,
) -> None:
    """Verification accuracy, AUC and TAR at FAR with the shipped calibration, fused and per model."""
    from faceproof.evaluation.verification import evaluate_verification

    with progress_bar() as bar:
        task = bar.add_task("analysing images", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = evaluate_verification(pairs, root, far=far, plot=plot, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    per = report["per_model"]
    console.print(
        f"{report['n_pairs']} pairs ({report['n_failed']} failed): accuracy {report['accuracy']:.4f}, "
        f"AUC {report['auc']:.4f}, TAR@1e-3 {report['tar_at_far']['0.001']:.4f}; "
        f"SFace accuracy {per['sface']['accuracy']:.4f}, dlib accuracy {per['dlib']['accuracy']:.4f}"
    )
    console.print(f"report written to {out}")
