"""`energychain-bench`: the whole pipeline's benchmark, with this machine's ceilings beside it.

1. Ceilings (``shared/.../ceilings.py``): raw aiokafka produce and consume rates for the
   reading payload, and the raw asyncpg COPY rate into a table shaped like the ledger's entries.
2. Pipeline: a generated fleet (default 1,000 houses x 1 year) replayed flat out through
   every service running as processes (a sandbox: own database, topics, ports), from the
   CSV files to committed ledger entries, invoices and escrow; readings/s end to end, each
   stage's rate as a share of its ceiling, each process's peak memory.
3. Latency: a fleet of 10,000 houses replayed at a paced speed (bursts of one simulated hour),
   publish-to-committed-ledger-entry latency of every reading, p50 and p99.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from energychain_shared import events, topics
from energychain_shared.ceilings import SAMPLE, copy_ceiling, kafka_ceilings
from energychain_shared.settings import REPO_ROOT, CommonSettings, load_settings

from energychain_cli.sandbox import Sandbox

console = Console()
UTC = timezone.utc


# ------------------------------------------------------------------ pipeline
def peak_memory_mib(pids: dict[str, int]) -> dict[str, float]:
    """VmHWM of each process, in MiB."""
    out = {}
    for name, pid in pids.items():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[name] = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            out[name] = None
    return out


def _fleet(houses: int, days: int, start: date) -> Path:
    folder = REPO_ROOT / "data" / "generated" / f"bench-{houses}x{days}"
    if not (folder / "manifest.json").exists():
        from energychain_cli.sandbox import BIN
        import subprocess

        subprocess.run([str(BIN / "energychain-meter-ingest"), "generate", "--houses", str(houses),
                        "--municipalities", str(max(1, houses // 100)), "--start", start.isoformat(),
                        "--end", (start + timedelta(days=days)).isoformat(), "--seed", "7", "--out", str(folder)],
                       check=True)
    return folder


def _sandbox(settings: CommonSettings, fleet: Path, base_port: int, extra_env: dict[str, str]) -> Sandbox:
    run_dir = Path(tempfile.mkdtemp(prefix="energychain-bench-"))
    return Sandbox.prepare(settings, run_dir, manifest=fleet / "manifest.json", registry=fleet / "registry.json",
                           base_port=base_port, extra_env=extra_env, roles=("gsa",),
                           witnesses=False)


def _ledger_readings(sandbox: Sandbox, published: int | None) -> int:
    """Readings on the ledger. The exact count scans millions of rows (a parallel scan that took a core
    from the pipeline it measures), so it runs only once the cheap bound says all may be there: the
    newest head of every resident channel (one index probe each), which also counts the few invoices.
    ``published`` None: the bound alone (progress while the replay runs)."""
    bound = sandbox.query(
        "SELECT coalesce(sum(h.size), 0)::bigint FROM ledger.channels c CROSS JOIN LATERAL "
        "(SELECT size FROM ledger.heads WHERE tree_id = c.tree_id ORDER BY log_index DESC LIMIT 1) h "
        "WHERE c.kind = 'resident'"
    )[0][0]
    if published is None or bound < published:
        return bound
    return sandbox.query("SELECT count(*) FROM ledger.entries WHERE kind = 'meter_reading'")[0][0]


def pipeline(settings: CommonSettings, *, houses: int, days: int, scale: dict[str, int]) -> dict:
    """Replay the fleet flat out through every service; returns the figures."""
    fleet = _fleet(houses, days, date(2021, 7, 1))
    extra = {f"EC_SCALE_{name.upper().replace('-', '_')}": str(n) for name, n in scale.items()}
    sandbox = _sandbox(settings, fleet, 18200, extra)
    try:
        sandbox.services("start")
        sandbox.wait_ready()
        gsa = sandbox.login("gsa-operator")
        started = time.perf_counter()
        gsa.post(sandbox.url("meter_ingest") + "/replay/start", json={"speed": "max"}).raise_for_status()
        done_s: dict[str, float] = {}  # stage -> seconds until it had everything the replay published
        while True:
            status = gsa.get(sandbox.url("meter_ingest") + "/replay/status").json()
            now = time.perf_counter() - started
            if status["state"] == "failed":
                raise RuntimeError(f"replay failed: {status['error']}")
            if status["state"] == "finished":
                done_s.setdefault("replay", now)
            if "ledger" not in done_s:  # once there, the (exact) count is not taken again
                on_ledger = _ledger_readings(sandbox, status["published"] if "replay" in done_s else None)
            billed = sandbox.query("SELECT min(watermark) FROM billing.progress")[0][0]
            if "replay" in done_s:
                if on_ledger >= status["published"]:
                    done_s.setdefault("ledger", now)
                if billed is not None and billed >= datetime.fromisoformat(status["sim_time"]):
                    done_s.setdefault("billing", now)
                if "ledger" in done_s and "billing" in done_s:
                    break
            console.print(f"  {now:6.0f} s  replay {status['state']} {status['published']:,} published; "
                          f"ledger {on_ledger:,} readings; billing through {billed or '-'}")
            time.sleep(10)
        elapsed = time.perf_counter() - started
        invoices = sandbox.query("SELECT count(*) FROM billing.invoices")[0][0]
        memory = peak_memory_mib(sandbox.pids())
        return {
            "houses": houses, "days": days, "readings": status["published"], "invoices": invoices,
            "seconds": round(elapsed, 1), "readings_per_s": round(status["published"] / elapsed),
            "stage_readings_per_s": {stage: round(status["published"] / s) for stage, s in done_s.items()},
            "replay_readings_per_s": round(status["published"] / done_s["replay"]), "peak_memory_mib": memory,
            "instances": scale,
        }
    finally:
        sandbox.destroy()


def latency(settings: CommonSettings, *, houses: int, hours: int, speed: int) -> dict:
    """Publish-to-ledger latency of every reading at a paced replay."""
    fleet = _fleet(houses, 1, date(2021, 7, 1))
    sandbox = _sandbox(settings, fleet, 18300, {})
    try:
        sandbox.services("start")
        sandbox.wait_ready()
        gsa = sandbox.login("gsa-operator")
        until = datetime(2021, 7, 1, 7, tzinfo=UTC) + timedelta(hours=hours)
        gsa.post(sandbox.url("meter_ingest") + "/replay/start",
                 json={"speed": str(speed), "until": until.isoformat()}).raise_for_status()
        while gsa.get(sandbox.url("meter_ingest") + "/replay/status").json()["state"] != "finished":
            time.sleep(2)
        published = gsa.get(sandbox.url("meter_ingest") + "/replay/status").json()["published"]
        deadline = time.monotonic() + 300
        while _ledger_readings(sandbox, published) < published and time.monotonic() < deadline:
            time.sleep(2)
        committed = {
            r["id"]: r["record_time"]
            for r in sandbox.query(
                # A reading's entry id is its event id; record_time is when its batch and the
                # checkpoint covering it committed (one transaction).
                "SELECT entry_id AS id, record_time FROM ledger.entries WHERE kind = 'meter_reading'"
            )
        }
        published_at = asyncio.run(_publish_times(settings, sandbox.env["EC_TOPIC_PREFIX"]))
        delays = sorted(
            (committed[i] - t).total_seconds() for i, t in published_at.items() if i in committed
        )
        if not delays:
            raise RuntimeError("no reading reached the ledger")
        return {
            "houses": houses, "hours": hours, "speed": speed, "readings": len(delays),
            "p50_s": round(statistics.median(delays), 3), "p99_s": round(delays[int(0.99 * (len(delays) - 1))], 3),
            "max_s": round(delays[-1], 3),
        }
    finally:
        sandbox.destroy()


async def _publish_times(settings: CommonSettings, prefix: str) -> dict[str, datetime]:
    """Reading event id -> broker timestamp (publish time) of every reading on the sandbox's topic."""
    from aiokafka import TopicPartition

    from energychain_shared.kafka import make_consumer

    name = f"{prefix}{topics.METER_READINGS.name}"
    consumer = make_consumer(settings, group_id=None, client_id="bench-latency", max_poll_records=10_000)
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in range(topics.METER_READINGS.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        out = {}
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    event = events.decode(record.value)
                    if isinstance(event, events.MeterReadingRecorded):
                        out[event.event_id] = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        return out
    finally:
        await consumer.stop()


def main_command(
    houses: Annotated[int, typer.Option(help="Pipeline fleet size.")] = 1000,
    days: Annotated[int, typer.Option(help="Days of readings per house.")] = 365,
    billing_workers: Annotated[int, typer.Option(help="Billing worker instances.")] = 1,
    ledger_consumers: Annotated[int, typer.Option(help="Ledger consumer instances.")] = 1,
    latency_houses: Annotated[int, typer.Option(help="Fleet size of the latency run (0 skips it).")] = 10_000,
    latency_hours: Annotated[int, typer.Option(help="Simulated hours of the latency run.")] = 4,
    latency_speed: Annotated[int, typer.Option(help="Simulated s per wall s of the latency run.")] = 360,
    ceiling_records: Annotated[int, typer.Option(help="Records of the ceiling measurements.")] = 300_000,
    skip_pipeline: bool = False,
) -> None:
    """Measure the ceilings, the full pipeline and the publish-to-ledger latency; print one JSON document."""
    settings = load_settings(CommonSettings)
    report: dict = {"machine": _machine()}
    console.print("[bold]ceilings[/bold]")
    report["ceilings"] = asyncio.run(kafka_ceilings(settings, ceiling_records))
    report["ceilings"]["pg_copy_rows_per_s"] = asyncio.run(copy_ceiling(settings, ceiling_records))
    report["ceilings"] = {k: round(v) for k, v in report["ceilings"].items()}
    console.print(report["ceilings"])
    if not skip_pipeline:
        console.print(f"[bold]pipeline[/bold]: {houses} houses x {days} days, flat out")
        result = pipeline(settings, houses=houses, days=days,
                          scale={"billing-worker": billing_workers, "ledger-consumer": ledger_consumers})
        ceilings = report["ceilings"]
        result["share_of_ceiling"] = {
            "replay_vs_kafka_produce": round(result["replay_readings_per_s"] / ceilings["kafka_produce_per_s"], 3),
            "pipeline_vs_kafka_consume": round(result["readings_per_s"] / ceilings["kafka_consume_per_s"], 3),
            "pipeline_vs_pg_copy": round(result["readings_per_s"] / ceilings["pg_copy_rows_per_s"], 3),
        }
        report["pipeline"] = result
        console.print(result)
    if latency_houses:
        console.print(f"[bold]latency[/bold]: {latency_houses} houses, {latency_hours} h at speed {latency_speed}")
        report["latency"] = latency(settings, houses=latency_houses, hours=latency_hours, speed=latency_speed)
        console.print(report["latency"])
    print(json.dumps(report, default=str))


def _machine() -> dict:
    import os
    import platform

    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), "0")
    return {"cpus": os.cpu_count(), "memory_gib": round(int(memory) / 1024 / 1024, 1),
            "python": platform.python_version(), "at": datetime.now(UTC).isoformat(timespec="seconds")}


def main() -> None:
    """Console entry point."""
    typer.run(main_command)
