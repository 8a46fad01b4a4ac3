"""Benchmark of the fleet stream: a generated fleet replayed by meter-ingest while the fleet process follows it.

Both run as the processes they are in production (`energychain-meter-ingest replay`,
`energychain-gsa-market fleet`), under a throwaway topic prefix. Every few seconds the
benchmark samples the fleet's consumer-group lag on meter.readings (end offsets minus the
offsets it committed) and the fleet process's resident memory; it prints the ceilings measured
in the same run (raw Kafka produce and consume, COPY), the fleet's readings/s as a share of
the consume ceiling, and the lag and memory at each tenth of the replay, so growth with the
days replayed shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from energychain_shared import ceilings, topics
from energychain_shared.kafka import delete_topics_with_prefix, ensure_topics
from energychain_shared.settings import REPO_ROOT

from energychain_market.fleet import app_id
from energychain_market.settings import MarketSettings

BIN = REPO_ROOT / ".venv" / "bin"
BENCH_START = date(2021, 7, 1)


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


async def _offsets(settings: MarketSettings) -> tuple[int, int]:
    """(records on meter.readings, records the fleet group committed)."""
    name = settings.topic(topics.METER_READINGS)
    partitions = [TopicPartition(name, p) for p in range(topics.METER_READINGS.partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=app_id(settings),
                                enable_auto_commit=False)
    await consumer.start()
    try:
        end = await consumer.end_offsets(partitions)
        committed = [await consumer.committed(tp) for tp in partitions]
        return sum(end.values()), sum(c or 0 for c in committed)
    finally:
        await consumer.stop()


def run_bench(settings: MarketSettings, *, houses: int, days: int, municipalities: int, speed: str,
              data_dir: Path | None, replay_days: int | None = None) -> dict:
    data_dir = data_dir or REPO_ROOT / "data" / "generated" / f"bench-{houses}x{days}"
    if not (data_dir / "manifest.json").exists():
        subprocess.run([str(BIN / "energychain-meter-ingest"), "generate", "--houses", str(houses),
                        "--municipalities", str(municipalities), "--start", BENCH_START.isoformat(),
                        "--end", (BENCH_START + timedelta(days=days)).isoformat(), "--seed", "7",
                        "--out", str(data_dir)], check=True)
    measured = asyncio.run(ceilings.measure(settings))
    bench = settings.model_copy(update={"topic_prefix": f"bench-fleet-{uuid.uuid4().hex[:8]}.",
                                        "registry_path": data_dir / "registry.json"})
    asyncio.run(ensure_topics(bench))
    run_dir = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    env = {**os.environ, "EC_TOPIC_PREFIX": bench.topic_prefix, "EC_REGISTRY_PATH": str(bench.registry_path),
           "EC_RUN_DIR": str(run_dir), "EC_LOG_LEVEL": "WARNING"}
    fleet = subprocess.Popen([str(BIN / "energychain-gsa-market"), "fleet"], env=env,
                             stdout=(run_dir / "fleet.log").open("wb"), stderr=subprocess.STDOUT)
    replay = None
    samples: list[dict] = []
    try:
        time.sleep(5)  # the fleet joins its group first, as in a running system
        started = time.monotonic()
        until = [] if replay_days is None else [
            "--until", f"{(BENCH_START + timedelta(days=replay_days)).isoformat()}T00:00:00-07:00"]
        replay = subprocess.Popen([str(BIN / "energychain-meter-ingest"), "replay", "--manifest",
                                   str(data_dir / "manifest.json"), "--speed", speed, "--replay-id", "bench", "--reset",
                                   *until],
                                  env=env, stdout=(run_dir / "replay.log").open("wb"), stderr=subprocess.STDOUT)
        replay_s = None
        while True:
            time.sleep(5)
            produced, committed = asyncio.run(_offsets(bench))
            now = time.monotonic() - started
            samples.append({"s": round(now, 1), "produced": produced, "committed": committed,
                            "lag": produced - committed, "rss_mib": _rss_mib(fleet.pid)})
            if fleet.poll() is not None:
                raise RuntimeError(f"the fleet process exited ({fleet.returncode}); see {run_dir / 'fleet.log'}")
            if replay_s is None and replay.poll() is not None:
                if replay.returncode != 0:
                    raise RuntimeError(f"the replay failed; see {run_dir / 'replay.log'}")
                replay_s = now
            if replay_s is not None and produced - committed <= topics.METER_READINGS.partitions * 2:
                break
        elapsed = samples[-1]["s"]
    finally:
        for process in (replay, fleet):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        asyncio.run(delete_topics_with_prefix(bench, bench.topic_prefix))
    records = samples[-1]["committed"]
    tenths = [samples[min(len(samples) - 1, round(i * (len(samples) - 1) / 10))] for i in range(11)]
    result = {
        "houses": houses, "days": replay_days or days, "replay_speed": speed,
        "records": records, "seconds": elapsed, "replay_seconds": round(replay_s, 1),
        "fleet_records_per_s": round(records / elapsed),
        "replay_records_per_s": round(records / replay_s),
        "share_of_consume_ceiling_pct": round(100 * records / elapsed / measured["kafka_consume_per_s"], 1),
        "peak_rss_mib": max(s["rss_mib"] for s in samples),
        "lag_and_rss_at_each_tenth": [(t["s"], t["lag"], t["rss_mib"]) for t in tenths],
        "ceilings": measured,
    }
    print(json.dumps(result))
    return result
