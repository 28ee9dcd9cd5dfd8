"""Profile commands: enroll, enroll-dir, profiles list/show/delete, verify, compare, identify, export, import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from faceproof.cli.common import (
    VERDICT_EXIT,
    EngineChoice,
    EngineOption,
    RayAddressOption,
    WorkersOption,
    console,
    emit_json,
    engine_with_progress,
    err_console,
    fail,
    open_service,
    toned,
)

profiles_app = typer.Typer(help="List, show and delete stored profiles.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON instead of a table.")]
Far = Annotated[float | None, typer.Option(help="Operating point as a false-accept rate: 0.01, 0.001, 0.0001.")]


def register(app: typer.Typer) -> None:
    app.command()(enroll)
    app.command("enroll-dir")(enroll_dir)
    app.command()(verify)
    app.command()(compare)
    app.command()(identify)
    app.command("export")(export_profiles)
    app.command("import")(import_profiles)
    app.add_typer(profiles_app, name="profiles")


def enroll(
    images: Annotated[list[Path], typer.Argument(help="Photos of one person.", exists=True, dir_okay=False)],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    external_id: Annotated[str | None, typer.Option(help="Your own unique id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Enrol one person from one or more photos (all must pass the quality and identity gates)."""
    from faceproof.api.schemas import ProfileOut
    from faceproof.errors import FaceproofError

    with open_service() as service:
        try:
            profile, _ = service.create_profile([p.read_bytes() for p in images], name, external_id)
        except FaceproofError as exc:
            fail(exc)
    if as_json:
        emit_json(ProfileOut.of(profile).model_dump(mode="json"))
    else:
        console.print(
            f"[green]enrolled[/green] {profile.id} ({profile.image_count} photos): {profile.summary['description']}"
        )


def enroll_dir(
    directory: Annotated[
        Path, typer.Argument(help="One sub-folder per person, named after them.", exists=True, file_okay=False)
    ],
    as_json: JsonFlag = False,
    engine: EngineOption = EngineChoice.local,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Enrol every person of a folder tree: each photo is accepted or refused on its own, with a reason.

    Photos are analysed in parallel (--engine, --workers); profiles are written in folder order, so the result does
    not depend on the engine."""
    from dataclasses import asdict

    from faceproof.batch.enrol_dir import enrol_directory, people_in

    people = people_in(directory)
    batch = engine_with_progress("enrolling", engine, workers, ray_address)
    with open_service() as service, batch as (runner, progress):
        rows = enrol_directory(service, directory, runner, progress=progress)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    table = Table(title=f"enroll-dir {directory}")
    for col in ("person", "file", "status", "reason", "profile_id"):
        table.add_column(col)
    for r in rows:
        colour = "green" if r.status == "accepted" else "red"
        table.add_row(r.person, r.file, f"[{colour}]{r.status}[/{colour}]", r.reason, r.profile_id)
    console.print(table)
    accepted = sum(r.status == "accepted" for r in rows)
    console.print(f"{accepted} accepted, {len(rows) - accepted} refused, {len(people)} people")


def verify(
    image: Annotated[Path, typer.Argument(help="The photo to check.", exists=True, dir_okay=False)],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile id.")],
    far: Far = None,
    as_json: JsonFlag = False,
) -> None:
    """Is IMAGE a real photo of the enrolled person? Exit 0 genuine, 3 different person, 4 suspected fake,
    5 inconclusive, 1 error."""
    from faceproof.api.schemas import VerifyResponse
    from faceproof.errors import FaceproofError

    with open_service() as service:
        try:
            response = VerifyResponse.of(service.verify(profile, image.read_bytes(), far))
        except FaceproofError as exc:
            fail(exc)
    if as_json:
        emit_json(response.model_dump(mode="json"))
    else:
        h = response.headline
        console.print(f"{toned(h.title, h.tone, bold=True)}  {toned(h.text, h.tone)}")
        for reason in response.reasons:
            console.print(f"  - {escape(reason)}")
        table = Table(title="authenticity findings", title_justify="left")
        for col in ("signal", "score", "confidence", "finding"):
            table.add_column(col, justify="right" if col in ("score", "confidence") else "left")
        for f in response.findings:
            table.add_row(f.signal, f"{f.score:.2f}", f"{f.confidence:.2f}", toned(f.sentence, f.tone))
        console.print(table)
    raise typer.Exit(VERDICT_EXIT[response.verdict])


def compare(
    first: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    second: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    far: Far = None,
    as_json: JsonFlag = False,
) -> None:
    """Are two photos the same person? Exit 0 same, 3 different, 5 inconclusive (poor photo, no match)."""
    from faceproof.api.schemas import CompareResponse
    from faceproof.errors import FaceproofError

    with open_service() as service:
        try:
            response = CompareResponse.of(service.compare(first.read_bytes(), second.read_bytes(), far))
        except FaceproofError as exc:
            fail(exc)
    if as_json:
        emit_json(response.model_dump(mode="json"))
    else:
        h, m = response.headline, response.match
        console.print(f"{toned(h.title, h.tone, bold=True)}  {toned(h.text, h.tone)}")
        console.print(f"  SFace {m.scores.sface:.3f}, dlib {'-' if m.scores.dlib is None else f'{m.scores.dlib:.3f}'}")
        for reason in response.reasons:
            console.print(f"  - {escape(reason)}")
    decisive = response.usable or response.match.clearly_different
    verdict = "genuine" if response.same_person else ("different_person" if decisive else "inconclusive")
    raise typer.Exit(VERDICT_EXIT[verdict])


def identify(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    top_k: Annotated[int, typer.Option(min=1, max=100)] = 5,
    far: Far = None,
    as_json: JsonFlag = False,
) -> None:
    """Who is this? The best matching profiles (1:N)."""
    from faceproof.api.schemas import IdentifyResponse
    from faceproof.errors import FaceproofError

    with open_service() as service:
        try:
            response = IdentifyResponse.of(service.identify(image.read_bytes(), top_k, far))
        except FaceproofError as exc:
            fail(exc)
    if as_json:
        emit_json(response.model_dump(mode="json"))
        return
    table = Table(title=f"identify {image.name} (threshold {response.threshold:.3f} at FAR {response.far:g})")
    for col in ("rank", "profile", "name", "similarity", "probability", "condition", "decision"):
        table.add_column(col)
    for i, c in enumerate(response.candidates, 1):
        table.add_row(
            str(i),
            c.profile_id,
            c.name,
            f"{c.similarity:.3f}",
            f"{c.match_probability:.3f}",
            c.condition,
            toned(c.sentence, c.tone),
        )
    console.print(table)
    if not response.usable:
        console.print(
            toned(f"photo quality: {', '.join(response.reasons)} - a miss may still be an enrolled person", "warn")
        )


@profiles_app.command("list")
def list_profiles(
    offset: int = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonFlag = False,
) -> None:
    with open_service() as service:
        items, total = service.list_profiles(offset, limit)
    if as_json:
        emit_json(
            {
                "total": total,
                "items": [
                    {"id": p.id, "name": p.name, "external_id": p.external_id, "image_count": p.image_count}
                    for p in items
                ],
            }
        )
        return
    table = Table(title=f"profiles {offset + 1}-{offset + len(items)} of {total}")
    for col in ("id", "name", "external id", "photos", "description"):
        table.add_column(col)
    for p in items:
        table.add_row(p.id, p.name, p.external_id or "", str(p.image_count), p.summary.get("description", ""))
    console.print(table)


@profiles_app.command("show")
def show_profile(profile_id: str, as_json: JsonFlag = False) -> None:
    from faceproof.api.schemas import ProfileOut
    from faceproof.errors import FaceproofError

    with open_service() as service:
        try:
            out = ProfileOut.of(service.get_profile(profile_id))
        except FaceproofError as exc:
            fail(exc)
    if as_json:
        emit_json(out.model_dump(mode="json"))
        return
    console.print(f"[bold]{out.name or '(unnamed)'}[/bold] {out.id}  {out.image_count} photos")
    console.print(out.description)
    table = Table(title="geometry (mean ± sd over enrolment photos)")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    for name, st in out.summary.get("geometry", {}).items():
        table.add_row(name, f"{st['mean']:.3f} ± {st['std']:.3f}")
    console.print(table)


@profiles_app.command("delete")
def delete_profile(profile_id: str) -> None:
    from faceproof.errors import FaceproofError

    with open_service() as service:
        try:
            service.delete_profile(profile_id)
        except FaceproofError as exc:
            fail(exc)
    console.print(f"deleted {profile_id}")


def export_profiles(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="JSON lines file (default: stdout).")] = None,
) -> None:
    """Back up every profile as JSON lines (embeddings and measurements; never raw images)."""
    with open_service() as service:
        lines = (json.dumps(doc) for doc in service.store.export_profiles())
        if out is None:
            for line in lines:
                typer.echo(line)
            return
        with out.open("w", encoding="utf-8") as fh:
            n = sum(1 for line in lines if fh.write(line + "\n"))
    err_console.print(f"exported {n} profiles to {out}")


def import_profiles(
    source: Annotated[Path, typer.Argument(help="A file written by `faceproof export`.", exists=True)],
) -> None:
    """Restore profiles from a JSON lines backup. Ids are kept; profiles that exist already are skipped (never
    overwritten); a malformed line stops the import with exit 1 (the profiles before it stay imported)."""
    from faceproof.errors import FaceproofError

    imported = skipped = 0
    with open_service() as service, source.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
                if service.store.get_profile(document["profile"]["id"]) is not None:
                    skipped += 1
                    continue
                service.store.import_profile(document)
            except (FaceproofError, json.JSONDecodeError, KeyError, TypeError) as exc:
                err_console.print(f"[red]line {number}[/red]: {exc}")
                raise typer.Exit(1) from exc
            imported += 1
    console.print(f"imported {imported} profiles, skipped {skipped} that exist already")
