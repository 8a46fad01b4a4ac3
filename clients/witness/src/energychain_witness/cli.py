"""`energychain-witness`: a party's witness of the ledger's log (init, vkey, run, round, status)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone

import typer
from rich.console import Console
from rich.table import Table

from energychain_shared.settings import load_settings

from energychain_witness.client import LedgerError, LedgerUnreachable
from energychain_witness.service import (
    VKEY_FILE, WitnessSetupError, build_witness, ensure_key, key_path, load_key, serve, status_document,
)
from energychain_witness.rounds import REFUSED, witness_vkey
from energychain_witness.settings import WitnessSettings
from energychain_witness.store import Store, StoreError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()


def settings() -> WitnessSettings:
    return load_settings(WitnessSettings)


def fail(message: str, code: int = 2) -> None:
    print(f"energychain-witness: {message}", file=sys.stderr)
    raise typer.Exit(code)


@app.command()
def init() -> None:
    """Create the witness's key pair in its dir if missing; print (and write to witness.vkey) its verifier key."""
    current = settings()
    created, vkey = ensure_key(current)
    print(f"{'created' if created else 'kept'} {key_path(current)}", file=sys.stderr)
    print(f"wrote {current.resolved_witness_dir / VKEY_FILE}", file=sys.stderr)
    print(vkey)


@app.command()
def vkey() -> None:
    """Print the witness's C2SP verifier key (register it with the ledger)."""
    current = settings()
    try:
        print(witness_vkey(current.witness_name, load_key(current)))
    except WitnessSetupError as error:
        fail(str(error), 3)


def _open_store(current: WitnessSettings) -> Store:
    try:
        return Store.open(current.store_path)
    except StoreError as error:
        fail(str(error), 3)
        raise  # unreachable


@app.command()
def run() -> None:
    """Run round after round and serve the API (/healthz, /metrics, /status) until SIGTERM."""
    from energychain_shared.observability import configure_logging

    import logging

    current = settings()
    configure_logging(f"witness-{current.witness_name}", current.log_level)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))  # not a line per request
    store = _open_store(current)
    try:
        witness = build_witness(current, store=store)
        asyncio.run(serve(current, witness))
    except WitnessSetupError as error:
        fail(str(error), 3)
    except StoreError as error:
        fail(str(error), 3)
    finally:
        store.close()


@app.command("round")
def one_round() -> None:
    """Run one round and print its outcome; exit 1 when the checkpoint is refused."""
    current = settings()
    store = _open_store(current)
    try:
        witness = build_witness(current, store=store)

        async def go():
            try:
                return await witness.round()
            finally:
                await witness.client.aclose()

        outcome = asyncio.run(go())
    except WitnessSetupError as error:
        fail(str(error), 3)
    except (LedgerUnreachable, LedgerError, StoreError) as error:
        fail(str(error), 2)
    finally:
        store.close()
    console.print(outcome.describe(), markup=False, highlight=False)
    if outcome.status == REFUSED:
        raise typer.Exit(1)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="The same document as GET /status.")) -> None:
    """What this witness last cosigned, the channels it watches and its latest refusals (read from its store)."""
    current = settings()
    if not current.store_path.exists():
        fail(f"no witness store at {current.store_path}: run `energychain-witness init` and `run`", 3)
    try:
        vkey_text = witness_vkey(current.witness_name, load_key(current))
    except WitnessSetupError:
        vkey_text = None
    with Store.open(current.store_path, exclusive=False) as store:
        document = status_document(current.witness_name, vkey_text, store)
    if as_json:
        print(json.dumps(document, indent=2))
        return
    console.print(f"witness [bold]{document['name']}[/bold] ({document['mode'] or 'not started'})")
    console.print(f"vkey    {document['vkey'] or '-'}", markup=False, highlight=False)
    last = document["cosigned"]
    if last is None:
        console.print("nothing cosigned yet")
    else:
        console.print(f"last cosigned: size {last['size']} root {last['root']} at {_when(last['cosigned_at'])}"
                      f"{'' if last['submitted'] else ' (not yet accepted by the ledger)'}", markup=False)
    channels = Table(title=f"watched channels ({len(document['watched_channels'])})")
    for column in ("channel", "blinded id", "size"):
        channels.add_column(column)
    for c in document["watched_channels"][:50]:
        channels.add_row(c["channel"] or "-", c["blinded_id"][:16] + "…", str(c["size"]))
    console.print(channels)
    refusals = Table(title="refusals (newest first)")
    for column in ("at", "checkpoint", "reason", "times", "detail"):
        refusals.add_column(column)
    for r in document["refusals"][:20]:
        refusals.add_row(_when(r["last_at"]), str(r["checkpoint_size"]), r["reason"], str(r["repeats"]), r["detail"])
    console.print(refusals)


def main() -> None:
    """Console entry point."""
    app()
