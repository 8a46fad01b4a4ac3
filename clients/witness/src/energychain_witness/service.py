"""The witness process: its key, its store, the round loop and the API in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import keys
from energychain_shared.settings import SERVER_KEEP_ALIVE_S, SERVER_MAX_HEAD_BYTES

from energychain_witness.client import LedgerClient, LedgerError, LedgerUnreachable
from energychain_witness.domain import b64
from energychain_witness.rounds import Witness, witness_vkey
from energychain_witness.settings import WitnessSettings
from energychain_witness.store import Store, StoreError

log = logging.getLogger(__name__)

KEY_NAME = "witness"  # witness.key / witness.pub in the witness dir
VKEY_FILE = "witness.vkey"
MAX_BACKOFF_S = 10.0
STOP_GRACE_S = 10.0


class WitnessSetupError(Exception):
    """The witness cannot start: missing key, verifier key or login."""


def key_path(settings: WitnessSettings) -> Path:
    return keys.private_key_path(settings.resolved_witness_dir, KEY_NAME)


def ensure_key(settings: WitnessSettings) -> tuple[bool, str]:
    """Create the witness's key pair if it is missing and write its verifier key; (created, vkey)."""
    directory = settings.resolved_witness_dir
    created = keys.ensure_key_pair(directory, KEY_NAME)
    vkey = witness_vkey(settings.witness_name, load_key(settings))
    (directory / VKEY_FILE).write_text(vkey + "\n")
    return created, vkey


def load_key(settings: WitnessSettings) -> Ed25519PrivateKey:
    path = key_path(settings)
    if not path.exists():
        raise WitnessSetupError(f"missing witness key {path}: run `energychain-witness init`")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessSetupError(f"{path} is not an Ed25519 private key")
    return key


def build_witness(settings: WitnessSettings, *, store: Store, transport: Any = None) -> Witness:
    """A witness over ``store`` from the settings (key, pinned ledger key, login)."""
    try:
        ledger_vkey = settings.ledger_vkey()
    except FileNotFoundError as error:
        raise WitnessSetupError(str(error)) from None
    if not settings.witness_username:
        raise WitnessSetupError("no login at the ledger: set EC_WITNESS_USERNAME and EC_WITNESS_PASSWORD")
    client = LedgerClient(settings.witness_ledger_url, username=settings.witness_username,
                          password=settings.login_password(),
                          timeout_s=settings.witness_http_timeout_s, transport=transport)
    try:
        return Witness(name=settings.witness_name, private_key=load_key(settings), ledger_vkey=ledger_vkey,
                       store=store, client=client, audit_entries=settings.witness_audit_entries,
                       audit_accounts=settings.witness_audit_accounts)
    except ValueError as error:
        raise WitnessSetupError(f"EC_WITNESS_LEDGER_VKEY: {error}") from None


async def run_rounds(witness: Witness, *, interval_s: float, stop: asyncio.Event) -> None:
    """Round after round until ``stop``; a round that fails (ledger unreachable, ...) is logged and retried."""
    failures = 0
    while not stop.is_set():
        try:
            outcome = await witness.round()
            failures = 0
            if outcome.status not in ("unchanged", "empty"):
                log.debug("round", extra=outcome.as_dict())
        except StoreError as error:  # another process holds or moved the store on: not ours to fight over
            log.error("witness store refused the round; stopping", extra={"error": str(error)})
            raise
        except (LedgerUnreachable, LedgerError) as error:
            failures += 1
            log.warning("round failed; retrying", extra={"error": str(error), "failures": failures})
        except Exception:
            failures += 1
            log.exception("round failed; retrying", extra={"failures": failures})
        pause = interval_s if failures == 0 else min(MAX_BACKOFF_S, interval_s * 2 ** min(failures, 10))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)


async def serve(settings: WitnessSettings, witness: Witness) -> None:
    """The round loop and the API until SIGTERM/SIGINT (a round in progress finishes or is cut at a safe point)."""
    import uvicorn

    from energychain_witness.api import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    server = uvicorn.Server(uvicorn.Config(create_app(witness), host=settings.witness_host,
                                           port=settings.witness_port, log_config=None,
                                           timeout_keep_alive=SERVER_KEEP_ALIVE_S,
                                           h11_max_incomplete_event_size=SERVER_MAX_HEAD_BYTES))

    def on_signal(*_: object) -> None:
        server.should_exit = True
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    rounds = asyncio.create_task(run_rounds(witness, interval_s=settings.witness_interval_s, stop=stop),
                                 name="witness-rounds")
    serving = asyncio.create_task(server.serve(), name="witness-api")
    try:
        await asyncio.wait({rounds, serving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.wait({rounds}, timeout=STOP_GRACE_S)
        if not rounds.done():
            # Cutting a round is safe: its state and cosignature are committed together or not at all.
            rounds.cancel()
            await asyncio.wait({rounds})
        await asyncio.wait({serving})
        await witness.client.aclose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not rounds.cancelled() and rounds.exception() is not None:
        raise rounds.exception()  # type: ignore[misc]
    if not serving.cancelled() and serving.exception() is not None:
        raise serving.exception()  # type: ignore[misc]


def status_document(witness_name: str, vkey: str | None, store: Store, *, mode: str | None = None,
                    last_round: dict[str, Any] | None = None, last_error: str | None = None) -> dict[str, Any]:
    """What `GET /status` and `energychain-witness status` show."""
    last = store.last_cosigned()
    channels = store.channel_rows()
    return {
        "name": witness_name,
        "vkey": vkey,
        "mode": mode or store.meta("mode"),
        "ledger_vkey": store.meta("ledger_vkey"),
        "cosigned": None if last is None else {
            "size": last.size, "root": b64(last.root), "cosigned_at": last.cosigned_at, "timestamp": last.timestamp,
            "submitted": last.submitted, "signature": last.signature,
        },
        "watched_channels": [
            {"blinded_id": c.blinded_id, "channel": c.name, "size": c.size, "root": b64(c.root),
             "audit_cursor": c.audit_cursor if c.name is not None else None}
            for c in channels
        ],
        "kept": dict(store.counts()),
        "refusals": [
            {"at": r.at, "last_at": r.last_at, "repeats": r.repeats, "reason": r.reason, "detail": r.detail,
             "checkpoint_size": r.checkpoint_size}
            for r in store.refusals(100)
        ],
        "last_round": last_round,
        "last_error": last_error,
    }
