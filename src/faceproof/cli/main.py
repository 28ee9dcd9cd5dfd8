"""The ``faceproof`` command line: serve the API, analyse photos, benchmark the pipeline.

Heavy imports (OpenCV, dlib, MediaPipe) happen inside the commands, so ``faceproof --help`` answers instantly.
Exit codes: 0 success, 1 a photo could not be analysed, 2 usage error (typer's) or a refused unsafe ``serve``.
"""

from __future__ import annotations

import json
import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from faceproof.cli import profiles, train
from faceproof.cli.common import console, err_console, toned
from faceproof.cli.evaluate import eval_app
from faceproof.cli.keys import keys_app

log = logging.getLogger(__name__)
app = typer.Typer(
    name="faceproof",
    help="Facial profiles from photos, and whether a new image is a real photo of the same person.",
    no_args_is_help=True,
    add_completion=False,
)
profiles.register(app)
app.add_typer(eval_app, name="eval")
app.add_typer(keys_app, name="keys")
app.add_typer(train.app, name="train")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else os.environ.get("FACEPROOF_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes; all state lives in the database, any worker answers any call.")
    ] = 1,
    graceful_timeout: Annotated[
        float,
        typer.Option(help="On SIGTERM/Ctrl-C: stop accepting, let requests in flight finish for up to this long (s)."),
    ] = 30.0,
    allow_unauthenticated: Annotated[
        bool,
        typer.Option(
            "--allow-unauthenticated",
            help="Serve a non-loopback interface without API keys (or FACEPROOF_ALLOW_UNAUTHENTICATED=1).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (and the web page) with uvicorn.

    Without API keys ('faceproof keys create') anyone who can connect may read and change biometric data, so an
    interface other than loopback is refused unless that is asked for explicitly."""
    import uvicorn

    from faceproof.config import Settings
    from faceproof.security import KeyStore, is_loopback

    settings = Settings.from_env()
    if not KeyStore(settings.resolved_api_keys_file).configured:
        if not is_loopback(host) and not (allow_unauthenticated or settings.allow_unauthenticated):
            err_console.print(
                f"[red]refusing[/red] to serve {host} without API keys: anyone reaching it could read and change "
                "biometric data. Create a key ('faceproof keys create --scope admin'), bind 127.0.0.1, or pass "
                "--allow-unauthenticated."
            )
            raise typer.Exit(2)
        log.warning("serving %s:%d WITHOUT authentication (no API keys configured)", host, port)
    uvicorn.run(
        "faceproof.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=graceful_timeout,
    )


class EvidenceChoice(StrEnum):
    flagged = "flagged"
    all = "all"
    none = "none"


@app.command("analyze")
def analyze_cmd(
    images: Annotated[list[Path], typer.Argument(help="Photos to analyse.", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per image (JSON lines).")] = False,
    face_index: Annotated[int, typer.Option(help="Which face: 0 = largest.")] = 0,
    annotate: Annotated[
        Path | None, typer.Option("--annotate", help="Write the annotated photo here (a folder with several images).")
    ] = None,
    evidence: Annotated[
        EvidenceChoice,
        typer.Option(
            "--evidence",
            help="With --annotate: run the authenticity check and write pictures of where its evidence lies beside "
            "the annotation (NAME.evidence.png): 'flagged' when a finding points to a fake, 'all' for every finding "
            "that has a picture, 'none' to skip the check.",
        ),
    ] = EvidenceChoice.flagged,
    landmarks: Annotated[
        bool,
        typer.Option("--landmarks", help="With --json: the 478-point mesh (x, y, z pixels), as /analyze gives it."),
    ] = False,
    embeddings: Annotated[
        bool, typer.Option("--embeddings", help="With --json: each model's identity vector, as /analyze gives them.")
    ] = False,
) -> None:
    """Measure the face in each photo: a readable table, or JSON with --json (the body POST /analyze answers)."""
    from faceproof.analysis import analyze
    from faceproof.api.schemas import AnalyzeResponse
    from faceproof.errors import FaceproofError

    if (landmarks or embeddings) and not as_json:
        # Hundreds of numbers have no place in the table; asking for them without --json is a mistake worth saying.
        err_console.print("[red]error[/red] --landmarks and --embeddings need --json")
        raise typer.Exit(2)
    failures = 0
    for path in images:
        try:
            result = analyze(path, face_index=face_index)
        except FaceproofError as exc:
            failures += 1
            if as_json:
                typer.echo(json.dumps({"file": str(path), "error": exc.to_dict()}))
            else:
                err_console.print(f"[red]{path}[/red]: {exc.code}: {exc.message}")
            continue
        if annotate is not None:
            _annotate(result, annotate, path, evidence, several=len(images) > 1, quiet=as_json)
        response = AnalyzeResponse.of(result, include_embeddings=embeddings, include_landmarks=landmarks)
        if as_json:
            typer.echo(json.dumps({"file": str(path), **response.model_dump(mode="json")}))
        else:
            console.print(_analysis_table(path, response))
    raise typer.Exit(1 if failures else 0)


def _annotate(result: object, out: Path, image: Path, evidence: EvidenceChoice, *, several: bool, quiet: bool) -> None:
    """The annotated photo, and the evidence pictures ``evidence`` asks for when there are any."""
    from faceproof.analysis import Analysis
    from faceproof.annotate import annotation_path, evidence_path, save_annotation, save_evidence
    from faceproof.authenticity.engine import assess

    assert isinstance(result, Analysis)
    save_annotation(result, annotation_path(out, image, several=several))
    if evidence is EvidenceChoice.none:
        return
    target = evidence_path(out, image, several=several)
    if save_evidence(result, assess(result), target, evidence.value) and not quiet:
        console.print(f"evidence pictures written to {target}")


def _analysis_table(path: Path, r: object) -> Table:
    from faceproof.api.schemas import AnalyzeResponse

    assert isinstance(r, AnalyzeResponse)
    s = r.subject
    table = Table(title=str(path), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("description", r.description)
    table.add_row("faces", f"{r.faces_found} found; measuring #{s.face_index} (score {s.face.score:.2f})")
    if s.geometry:
        g = s.geometry
        table.add_row("pose", f"yaw {g.yaw:+.1f}°, pitch {g.pitch:+.1f}°, roll {g.roll:+.1f}°")
        table.add_row("shape", f"{g.face_shape}; thirds {g.upper_third:.2f}/{g.middle_third:.2f}/{g.lower_third:.2f}")
        table.add_row("symmetry", f"{g.symmetry:.3f}")
    if s.appearance and s.appearance.ita_deg is not None:
        a = s.appearance
        table.add_row("skin", f"ITA {a.ita_deg:.0f}° ({a.ita_category})")
        irises = [i.name for i in (a.iris_right, a.iris_left) if i]
        table.add_row("iris", ", ".join(irises) or "not measured")
    table.add_row("quality", toned(r.headline.text, r.headline.tone))
    table.add_row("identity", ", ".join(e.key for e in s.identity))
    table.add_row("time", f"{r.timings_ms.get('total', 0):.0f} ms")
    return table


@app.command()
def bench(
    images: Annotated[list[Path] | None, typer.Argument(help="Photos (default: the test fixtures).")] = None,
    repeats: Annotated[int, typer.Option(help="Timed runs per image.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    http: Annotated[bool, typer.Option(help="Also time whole verify requests over HTTP.")] = True,
) -> None:
    """Median and p95 per stage, single-threaded, against face_recognition's classic HOG + 128-d path, in the same
    process: the analysis, each authenticity signal, verification step by step and a whole verify request over
    HTTP (a loopback server in this process)."""
    from faceproof.bench import default_images, run_benchmark

    report = run_benchmark(images or default_images(), repeats=repeats, http=http)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"faceproof bench ({report['images']} images x {repeats} runs, single thread)")
    for col in ("stage", "median ms", "p95 ms"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for stage, fig in report["stages"].items():
        table.add_row(stage, f"{fig['median_ms']:.1f}", f"{fig['p95_ms']:.1f}")
    console.print(table)
    for what, ratio in report["ratios"].items():
        console.print(f"{what}: {ratio:.2f}x faster")
