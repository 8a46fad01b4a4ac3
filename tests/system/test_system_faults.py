"""The fault suite: SIGKILL every service at random points, restart the broker, restart PostgreSQL.

Two sandboxes replay the same year of the three seed houses (nobody pays, so every
invoice goes past due and escrow covers until it is empty): one undisturbed, one with
faults injected while the replay and the pipeline run. Afterwards every reading is on the
ledger exactly once, the invoices and the escrow history are those of the undisturbed
run, and every ledger channel verifies.

Run it on its own with `deploy/test.sh -m faults`.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import time
from datetime import datetime

import pytest

from energychain_cli.sandbox import Sandbox
from energychain_shared.settings import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.faults]
SPEED = "1209600"  # two simulated weeks per second: the year takes about half a minute
INFRA = str(REPO_ROOT / "deploy" / "infra.sh")


def _fresh(infrastructure, tmp_path_factory, seed_manifest, registry) -> Sandbox:
    run_dir = tmp_path_factory.mktemp("faults")
    sandbox = Sandbox.prepare(infrastructure, run_dir, manifest=seed_manifest, registry=registry, base_port=18400)
    sandbox.services("start")
    sandbox.wait_ready()
    return sandbox


def _ensure_replaying(sandbox: Sandbox, gsa) -> dict:
    """The replay's status; (re)start it from its checkpoint when a fault stopped it."""
    try:
        status = gsa.get(sandbox.url("meter_ingest") + "/replay/status").json()
    except Exception:  # the API is restarting
        return {"state": "restarting"}
    if status["state"] in ("idle", "stopped", "failed"):
        gsa.post(sandbox.url("meter_ingest") + "/replay/start", json={"speed": SPEED})
    return status


def _settled(sandbox: Sandbox, gsa, total: int | None) -> bool:
    status = gsa.get(sandbox.url("meter_ingest") + "/replay/status").json()
    if status["state"] != "finished":
        return False
    total = total or status["published"]  # a restarted replay counts only what it published itself
    end = datetime.fromisoformat(status["sim_time"])
    readings = sandbox.query("SELECT count(DISTINCT entry_id) FROM ledger.entries WHERE kind = 'meter_reading'")[0][0]
    billed = sandbox.query("SELECT min(watermark) FROM billing.progress")[0][0]
    escrow = gsa.get(sandbox.url("escrow") + "/gsa/escrow/parlier").json().get("processed_until")
    return (
        readings >= total and billed is not None and billed >= end
        and escrow is not None and datetime.fromisoformat(escrow) >= end
    )


def _snapshot(sandbox: Sandbox, gsa) -> dict:
    readings = sandbox.query(
        "SELECT count(*) AS entries, count(DISTINCT entry_id) AS distinct_ids FROM ledger.entries "
        "WHERE kind = 'meter_reading'"
    )[0]
    invoices = [tuple(r) for r in sandbox.query(
        "SELECT invoice_id, total_cents, lines::text, past_due_cents FROM billing.invoices ORDER BY invoice_id"
    )]
    movements = [
        (m["kind"], m["amount_cents"], m["balance_after_cents"], m["house_id"], m["invoice_id"], m["occurred_at"])
        for m in gsa.get(sandbox.url("escrow") + "/gsa/escrow/parlier/movements").json()
    ]
    failing = [
        c["channel"] for c in gsa.get(sandbox.url("ledger") + "/channels").json()
        if not gsa.get(sandbox.url("ledger") + f"/channels/{c['channel']}/verify").json()["ok"]
    ]
    whole = gsa.get(sandbox.url("ledger") + "/verify").json()
    return {"ledger_readings": dict(readings), "invoices": invoices,
            "movements": movements, "failing_channels": failing, "log_problems": whole["problems"],
            "witnesses": _witnesses_agree(sandbox, gsa)}


def _witnesses_agree(sandbox: Sandbox, gsa) -> dict[str, dict]:
    """Each witness: no refusal, and the ledger's newest checkpoint extends the last one it cosigned."""
    from energychain_shared.tlog import merkle

    newest = gsa.get(sandbox.url("ledger") + "/log/checkpoint").json()
    found = {}
    for name in sandbox.witness_ports:
        deadline = time.monotonic() + 60
        while True:  # let it catch up with the newest checkpoint
            status = sandbox.witness_status(name)
            cosigned = status.get("cosigned") or {}
            if cosigned.get("size") == newest["size"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        size, root = cosigned["size"], base64.b64decode(cosigned["root"])
        proof = gsa.get(sandbox.url("ledger") + "/log/proof/consistency",
                        params={"from": size, "to": newest["size"]}).json()["proof"]
        found[name] = {
            "refusals": status.get("refusals", []),
            "extends": merkle.verify_consistency(old_size=size, new_size=newest["size"], old_root=root,
                                                 new_root=base64.b64decode(newest["root"]),
                                                 proof=[base64.b64decode(h) for h in proof]),
        }
    return found


def _run_year(sandbox: Sandbox, *, faults: random.Random | None, total: int | None = None) -> tuple[dict, list[str]]:
    gsa = sandbox.login("gsa-operator")
    gsa.post(sandbox.url("meter_ingest") + "/replay/start", json={"speed": SPEED}).raise_for_status()
    injected: list[str] = []
    plan = ["kill"] * 3 + ["kafka", "kill", "postgres", "kill"] if faults else []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if plan and faults is not None:
            time.sleep(faults.uniform(2, 5))
            fault = plan.pop(0)
            if fault == "kill":
                running = sorted(sandbox.pids().items())
                # The first kill hits a ledger consumer mid-batch, the second a witness mid-round; the rest any process.
                wanted = {3: "ledger-consumer", 2: "witness-"}.get(sum(f == "kill" for f in plan), "")
                name, pid = faults.choice([p for p in running if p[0].startswith(wanted)] or running)
                os.kill(pid, signal.SIGKILL)
                injected.append(f"SIGKILL {name}")
                time.sleep(1)
                sandbox.services("start")  # restarts what is not running
            else:
                subprocess.run([INFRA, "stop", fault], check=True, capture_output=True, timeout=120)
                injected.append(f"stopped {fault}")
                time.sleep(5)
                subprocess.run([INFRA, "start", fault], check=True, capture_output=True, timeout=300)
                sandbox.services("start")
            sandbox.wait_ready(timeout=120)
            gsa = sandbox.login("gsa-operator")
            _ensure_replaying(sandbox, gsa)
            continue
        _ensure_replaying(sandbox, gsa)
        if _settled(sandbox, gsa, total):
            time.sleep(3)
            return _snapshot(sandbox, gsa), injected
        time.sleep(2)
    raise AssertionError(f"the year did not settle in 600 s (faults: {injected})")


def test_faults_lose_nothing_double_count_nothing_and_change_no_outcome(
    infrastructure, parlier_exports, tmp_path_factory, kit
):
    manifest = kit.manifest_of(parlier_exports, tmp_path_factory.mktemp("fault-inputs"))
    registry = REPO_ROOT / "data" / "registry.json"

    calm = _fresh(infrastructure, tmp_path_factory, manifest, registry)
    try:
        expected, _ = _run_year(calm, faults=None)
    finally:
        calm.destroy()
    assert expected["failing_channels"] == [] and expected["log_problems"] == []
    assert expected["witnesses"] and all(w == {"refusals": [], "extends": True} for w in expected["witnesses"].values())
    total = sum(sum(1 for _ in open(path)) - 1 for path in parlier_exports.values())  # one reading per data row
    assert expected["ledger_readings"] == {"entries": total, "distinct_ids": total}
    assert len(expected["invoices"]) >= 30 and any(m[0] == "past_due_cover" for m in expected["movements"])

    stormy = _fresh(infrastructure, tmp_path_factory, manifest, registry)
    try:
        observed, injected = _run_year(stormy, faults=random.Random(8), total=total)
    finally:
        stormy.destroy()
        subprocess.run([INFRA, "start"], check=True, capture_output=True, timeout=300)
    assert len(injected) == 7 and "stopped kafka" in injected and "stopped postgres" in injected
    assert observed["ledger_readings"] == {"entries": total, "distinct_ids": total}
    assert observed["invoices"] == expected["invoices"]
    assert observed["movements"] == expected["movements"]
    assert observed["failing_channels"] == [] and observed["log_problems"] == []
    assert any(i.startswith("SIGKILL ledger-consumer") for i in injected), injected
    assert any(i.startswith("SIGKILL witness-") for i in injected), injected
    # No inconsistent checkpoint: every witness cosigned, refused nothing, and the log extends what it cosigned.
    assert observed["witnesses"] and all(w == {"refusals": [], "extends": True} for w in observed["witnesses"].values())
