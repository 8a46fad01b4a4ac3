"""`energychain checkpoint` and `energychain proof ...`: fetch what the ledger proves and check it here.

The keys are the ledger's and the witnesses' verifier keys: those the ledger serves, or those
you pin (`--vkey`, `--witness`), which is what a party that trusts no operator does.
"""

from __future__ import annotations

import base64
from typing import Annotated, Optional

import typer
from rich.console import Console

from energychain_shared.tlog import merkle, note as notes
from energychain_shared.tlog.bundles import verify_bundle

console = Console()
proof_app = typer.Typer(no_args_is_help=True, help="Proofs of the ledger's log, checked on this machine.")


def _keys(client, call, vkey: str | None, witnesses: list[str] | None) -> tuple[str, dict[str, str]]:
    served = call(client.get, "ledger", "/log/key")
    ledger_vkey = vkey or served["vkey"]
    pinned = witnesses if witnesses else [w["vkey"] for w in served["witnesses"]]
    return ledger_vkey, {notes.parse_verifier_key(v)[0]: v for v in pinned}


def show_checkpoint(client, call, *, cosigned: bool, vkey: str | None, witnesses: list[str] | None) -> bool:
    """Print the newest checkpoint and which signatures verify with the keys; True when the ledger's does."""
    found = call(client.get, "ledger", "/log/checkpoint", cosigned=str(cosigned).lower())
    ledger_vkey, witness_vkeys = _keys(client, call, vkey, witnesses)
    parsed = notes.parse_note(found["note"])
    origin, _, key = notes.parse_verifier_key(ledger_vkey)
    signed = notes.verify_signature(parsed, name=origin, public_key=key)
    console.print(found["note"], end="", markup=False, highlight=False)
    console.print(f"{'[green]signed[/green]' if signed else '[red]NOT signed[/red]'} by {origin}")
    for name, witness in witness_vkeys.items():
        _, _, wkey = notes.parse_verifier_key(witness)
        at = notes.verify_cosignature(parsed, name=name, public_key=wkey)
        console.print(f"  {'[green]cosigned[/green]' if at is not None else 'not cosigned'} by {name}"
                      + (f" at {at}" if at is not None else ""))
    return signed


def register(app: typer.Typer, api, call, fail) -> None:
    """Add `checkpoint` and `proof` to the CLI."""

    @app.command()
    def checkpoint(
        cosigned: Annotated[bool, typer.Option(help="the newest checkpoint a witness cosigned")] = False,
        vkey: Annotated[Optional[str], typer.Option(help="pin the ledger's verifier key")] = None,
        witness: Annotated[Optional[list[str]], typer.Option(help="pin a witness's verifier key (repeatable)")] = None,
    ) -> None:
        """The newest signed checkpoint of the log of heads and its cosignatures, checked here."""
        if not show_checkpoint(api(), call, cosigned=cosigned, vkey=vkey, witnesses=witness):
            raise typer.Exit(1)

    @proof_app.command("inclusion")
    def inclusion(
        channel: Annotated[str, typer.Option(help="e.g. resident:house-01")],
        seq: Annotated[list[int], typer.Option(help="entry position (repeatable)")],
        checkpoint_size: Annotated[Optional[int], typer.Option("--checkpoint", help="default: newest cosigned")] = None,
        vkey: Annotated[Optional[str], typer.Option(help="pin the ledger's verifier key")] = None,
        witness: Annotated[Optional[list[str]], typer.Option(help="pin a witness's verifier key")] = None,
    ) -> None:
        """Entries of a channel you belong to, proved in a checkpoint: leaf -> channel head -> log -> signatures."""
        client = api()
        salt = next((c["salt"] for c in call(client.get, "ledger", "/channels", limit=1000) if c["channel"] == channel),
                    None)
        if salt is None:
            fail(f"you are not a member of {channel}")
        bundle = call(client.get, "ledger", f"/channels/{channel}/proofs", seqs=",".join(map(str, seq)),
                      checkpoint=checkpoint_size)
        ledger_vkey, witness_vkeys = _keys(client, call, vkey, witness)
        report = verify_bundle(bundle, channel=channel, salt=bytes.fromhex(salt), ledger_vkey=ledger_vkey,
                               witness_vkeys=witness_vkeys)
        for item in report.verified:
            console.print(f"[green]included[/green] {channel} seq {item}")
        for item in report.pending:
            console.print(f"pending   {channel} seq {item}: not yet in checkpoint {report.checkpoint}")
        for where, why in report.failures.items():
            console.print(f"[red]FAILED[/red]   {where}: {why}")
        console.print(f"checkpoint {report.checkpoint}, cosigned by {', '.join(report.cosigned_by) or 'no witness yet'}")
        if not report.ok:
            raise typer.Exit(1)

    @proof_app.command("consistency")
    def consistency(
        old: Annotated[int, typer.Option("--from", help="older size of the log of heads (a checkpoint size)")],
        new: Annotated[int, typer.Option("--to", help="newer size of the log of heads (a checkpoint size)")],
        channel: Annotated[Optional[str], typer.Option(help="prove a channel's tree instead (sizes of that channel)")] = None,
    ) -> None:
        """A consistency proof between two sizes, checked here against the two signed checkpoints' roots."""
        client = api()
        if channel is not None:
            proof = call(client.get, "ledger", f"/channels/{channel}/proof/consistency", **{"from": old, "to": new})
            for digest in proof["proof"]:
                console.print(digest)
            console.print(f"{len(proof['proof'])} hashes: {channel} size {old} -> {new} (check them against the "
                          "roots of the two heads you hold)")
            return
        proof = call(client.get, "ledger", "/log/proof/consistency", **{"from": old, "to": new})
        roots = [base64.b64decode(call(client.get, "ledger", f"/log/checkpoints/{size}")["root"]) for size in (old, new)]
        ok = merkle.verify_consistency(old_size=old, new_size=new, old_root=roots[0], new_root=roots[1],
                                       proof=[base64.b64decode(h) for h in proof["proof"]])
        console.print(f"{'[green]consistent[/green]' if ok else '[red]NOT consistent[/red]'}: checkpoint {new} "
                      f"extends checkpoint {old} ({len(proof['proof'])} hashes)")
        if not ok:
            raise typer.Exit(1)

    app.add_typer(proof_app, name="proof")
