"""``faceproof eval ...``: evaluations with stable report contracts (they never fit anything on the data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from faceproof.cli.common import (
    EngineChoice,
    EngineOption,
    RayAddressOption,
    WorkersOption,
    console,
    engine_with_progress,
)

Root = Annotated[Path, typer.Option(help="Folder the CSV's paths are relative to.", exists=True, file_okay=False)]
Out = Annotated[Path, typer.Option(help="Where to write REPORT.json.")]
Plot = Annotated[Path | None, typer.Option(help="ROC + histogram plot (PNG); default: beside the report.")]

DamageOption = Annotated[
    list[str] | None,
    typer.Option(
        help="Damage every evaluated image first (repeat to combine): mask, lowres, gaussian_blur, motion_blur, "
        "noise, jpeg, crop, photometric. Seeded by file name, so runs repeat exactly."
    ),
]

eval_app = typer.Typer(help="Evaluate on a labelled set; writes a JSON report.", no_args_is_help=True)


@eval_app.command("verification")
def verification(
    pairs: Annotated[Path, typer.Option(help="CSV with file_a,file_b,same_person (1/0).", exists=True)],
    root: Root,
    out: Out,
    plot: Plot = None,
    far: Annotated[float, typer.Option(help="Operating point (false-accept rate).")] = 1e-3,
    engine: EngineOption = EngineChoice.local,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Verification accuracy, AUC and TAR at FAR with the shipped calibration, fused and per model."""
    from faceproof.evaluation.verification import evaluate_verification

    plot = plot or out.with_suffix(".png")
    with engine_with_progress("analysing images", engine, workers, ray_address) as (runner, progress):
        report = evaluate_verification(pairs, root, far=far, plot=plot, progress=progress, engine=runner)
    _write(out, report, "faceproof eval verification", plot)
    per = report["per_model"]
    console.print(
        f"{report['n_pairs']} pairs ({report['n_failed']} failed): accuracy {report['accuracy']:.4f}, "
        f"AUC {report['auc']:.4f}, TAR@1e-3 {report['tar_at_far']['0.001']:.4f}; "
        f"SFace accuracy {per['sface']['accuracy']:.4f}, dlib accuracy {per['dlib']['accuracy']:.4f}"
    )


@eval_app.command("authenticity")
def authenticity(
    manifest: Annotated[
        Path, typer.Option(help="CSV with file,label,identity (label real or a kind of fake).", exists=True)
    ],
    root: Root,
    out: Out,
    plot: Plot = None,
    damage: DamageOption = None,
    engine: EngineOption = EngineChoice.local,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Real vs fake with the shipped fusion: AUC overall and per fake label, detection and false-flag rates."""
    from faceproof.evaluation.authenticity import evaluate_authenticity

    damage_names = _damage(damage)
    plot = plot or out.with_suffix(".png")
    with engine_with_progress("analysing images", engine, workers, ray_address) as (runner, progress):
        report = evaluate_authenticity(manifest, root, plot=plot, progress=progress, engine=runner, damage=damage_names)
    _write(out, report, "faceproof eval authenticity", plot)
    console.print(
        f"{report['n_images']} images ({report['n_failed']} failed): AUC {report['auc']}, "
        f"TPR@FPR1% {report['tpr_at_fpr_0.01']}, real flagged {report['real_flagged_rate']}"
    )
    for label, fig in report["per_label"].items():
        console.print(f"  {label}: n={fig['n']} AUC {fig['auc']} detected {fig['detected_rate']:.3f}")


@eval_app.command("profiles")
def profiles(
    manifest: Annotated[Path, typer.Option(help="CSV with file,label,identity.", exists=True)],
    root: Root,
    out: Out,
    enroll: Annotated[int, typer.Option(help="Real photos enrolled per identity (the first K in the manifest).")] = 2,
    far: Annotated[float, typer.Option(help="Operating point (false-accept rate).")] = 1e-3,
    damage: DamageOption = None,
    engine: EngineOption = EngineChoice.local,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Enrol K photos per person, then verify their other photos, other people and fakes of them."""
    from faceproof.evaluation.profiles import evaluate_profiles

    damage_names = _damage(damage)
    with engine_with_progress("verifying", engine, workers, ray_address) as (runner, progress):
        report = evaluate_profiles(
            manifest, root, enroll=enroll, far=far, progress=progress, engine=runner, damage=damage_names
        )
    _write(out, report, "faceproof eval profiles", None)
    console.print(
        f"{report['n_profiles']} profiles: genuine accepted {report['genuine_accept_rate']}, impostors "
        f"rejected {report['impostor_reject_rate']}, fakes rejected {report['fake_reject_rate']}"
    )


@eval_app.command("swaps-onto-profiles")
def swaps_onto_profiles(
    corpus: Annotated[
        Path,
        typer.Option(help="The corpus image folder (lfw_faceswap_swapped, lfw_gray).", exists=True, file_okay=False),
    ],
    out: Out,
    engine: EngineOption = EngineChoice.local,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Swaps made by others (3D-model FaceSwap on LFW, never trained on) verified against profiles of the people
    in them: how many of their swaps are answered genuine."""
    from faceproof.evaluation.swaps_onto_profiles import evaluate_swaps_onto_profiles

    with engine_with_progress("embedding", engine, workers, ray_address) as (runner, progress):
        try:
            report = evaluate_swaps_onto_profiles(corpus, progress=progress, engine=runner)
        except FileNotFoundError as exc:
            raise typer.BadParameter(str(exc), param_hint="--corpus") from exc
    _write(out, report, "faceproof eval swaps-onto-profiles", None)
    rates = ", ".join(f"{g} {r:.3f}" if r is not None else f"{g} -" for g, r in report["genuine_rate"].items())
    console.print(
        f"{report['recovered']} of {report['swaps']} swaps placed, {report['enrolled']} people enrolled; "
        f"answered genuine: {rates}"
    )


def _damage(names: list[str] | None) -> tuple[str, ...]:
    from faceproof.evaluation.damage import check_damage

    try:
        return check_damage(names or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--damage") from exc


def _scalar(value: object) -> bool:
    return isinstance(value, (int, float, str)) or value is None


def _cell(value: object) -> str:
    return "" if value is None else str(round(value, 4) if isinstance(value, float) else value)


def _table(section: dict, header: Callable[[str], str] = str) -> list[str]:
    """A report section as Markdown: one row per entry (a label, a kind, a source) when its entries are flat
    records of figures, each column headed by ``header(key)``; anything deeper stays JSON."""
    records = list(section.values())
    if not records or not all(isinstance(r, dict) and all(_scalar(v) for v in r.values()) for r in records):
        return ["```json", json.dumps(section, indent=1), "```"]
    columns = list(dict.fromkeys(k for r in records for k in r))
    rows = [f"| | {' | '.join(header(c) for c in columns)} |", "|---" * (len(columns) + 1) + "|"]
    rows += [f"| {name} | {' | '.join(_cell(r.get(c)) for c in columns)} |" for name, r in section.items()]
    return rows


def _write(out: Path, report: dict, title: str, plot: Path | None) -> None:
    """REPORT.json, and beside it REPORT.md: the headline figures as a table and the plot (ROC, histograms, the
    operating point marked), readable without any tool."""
    from faceproof.decision import wording

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    lines = [f"# {title}", "", "| figure | value |", "|---|---|"]
    for key, value in report.items():
        if isinstance(value, (int, float, str)) or value is None:
            lines.append(f"| {key} | {value if not isinstance(value, float) else round(value, 4)} |")
    for key, value in report.items():
        if isinstance(value, dict):  # verdict counts are headed by the words the verdicts are shown with elsewhere
            lines += ["", f"## {key}", "", *_table(value, wording.verdict_title if key == "verdicts" else str)]
    if plot is not None and plot.exists():
        rel = plot.name if plot.parent.resolve() == out.parent.resolve() else str(plot.resolve())
        lines += ["", f"![{title}]({rel})"]
    markdown = out.with_suffix(".md")
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    console.print(f"report written to {out} and {markdown}")


@eval_app.command("heldout-set")
def heldout_set(
    out: Annotated[Path, typer.Option(help="Where to write the manifest CSV (file,label,identity,kind).")],
    cache: Annotated[Path, typer.Option(help="The crop cache of faceproof train crops.", exists=True)],
    corpus: Annotated[Path, typer.Option(help="The corpus image folder.", exists=True, file_okay=False)],
    dev_set: Annotated[Path, typer.Option(help="The development set folder.", exists=True, file_okay=False)],
    per_label: Annotated[int, typer.Option(min=1, help="At most this many images per real source / fake label.")] = 150,
    seed: Annotated[int, typer.Option(help="Seed of the draw.")] = 0,
) -> None:
    """Write an authenticity evaluation manifest of corpus images no shipped detector trained on (real photos of
    held-out people per source, each generator, the evaluation-only swaps, held-out NUAA prints); evaluate it
    with ``faceproof eval authenticity --manifest OUT --root /``."""
    from faceproof.evaluation.heldout import authenticity_rows, write_manifest

    rows = authenticity_rows(cache, corpus.resolve(), dev_set.resolve(), per_label, seed)
    write_manifest(rows, out)
    console.print(f"{len(rows)} rows written to {out}")
