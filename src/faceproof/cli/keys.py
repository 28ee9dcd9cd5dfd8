"""``faceproof keys``: create, list and revoke API keys (the key file next to the data, see faceproof.security).

Running servers pick a change up within a couple of seconds; no restart is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from faceproof.cli.common import EXIT_ERROR, console, emit_json, err_console

if TYPE_CHECKING:
    from faceproof.security import ApiKey, KeyStore

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON instead of a table.")]


def _store() -> KeyStore:
    """The key file of this environment's settings (imported lazily: ``faceproof --help`` stays instant)."""
    from faceproof.config import Settings
    from faceproof.security import KeyStore

    return KeyStore(Settings.from_env().resolved_api_keys_file)


@keys_app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="verify, enrol or admin (each includes the ones before it).")],
    name: Annotated[str, typer.Option(help="What the key is for, shown by 'keys list'.")] = "",
    expires_in_days: Annotated[
        float | None, typer.Option(min=0.001, help="Refuse the key after this many days (default: never).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key and print it once: only its hash is kept, it cannot be shown again."""
    from datetime import UTC, datetime, timedelta

    from faceproof.security import Scope

    try:
        chosen = Scope(scope)
    except ValueError:
        err_console.print(f"[red]error[/red] unknown scope {scope!r}: use verify, enrol or admin")
        raise typer.Exit(2) from None
    store = _store()
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    key, token = store.create(chosen, name, expires_at=expires)
    if as_json:
        emit_json({"id": key.id, "name": key.name, "scope": key.scope.value, "key": token, **_expiry(key)})
        return
    typer.echo(token)
    until = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
    err_console.print(
        f"[green]created[/green] key {key.id} (scope {key.scope}{until}) in {store.path}. "
        "Store it now: it is shown only this once."
    )


def _expiry(key: ApiKey) -> dict[str, str | None]:
    return {"expires_at": key.expires_at.isoformat() if key.expires_at else None}


@keys_app.command("list")
def list_keys(as_json: JsonFlag = False) -> None:
    """Every key ever created here (never the secret), active or revoked."""
    keys = _store().list()
    if as_json:
        emit_json(
            [
                {
                    "id": k.id,
                    "name": k.name,
                    "scope": k.scope.value,
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    **_expiry(k),
                    "active": k.active,
                }
                for k in keys
            ]
        )
        return
    table = Table(title=f"{len(keys)} API keys")
    for col in ("id", "name", "scope", "created", "status"):
        table.add_column(col)
    for k in keys:
        if k.revoked_at:
            status = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"
        elif k.expires_at:
            status = f"{'expired' if k.expired() else 'active, expires'} {k.expires_at:%Y-%m-%d %H:%M}"
        else:
            status = "active"
        table.add_row(k.id, k.name, k.scope.value, f"{k.created_at:%Y-%m-%d %H:%M}", status)
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id, as 'keys list' shows it.")]) -> None:
    """Revoke a key for good (running servers stop accepting it within seconds)."""
    if not _store().revoke(key_id):
        err_console.print(f"[red]error[/red] no active key with id {key_id!r}")
        raise typer.Exit(EXIT_ERROR)
    console.print(f"[green]revoked[/green] {key_id}")
