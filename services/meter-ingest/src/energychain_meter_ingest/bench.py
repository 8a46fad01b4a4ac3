"""Benchmark: replay a generated fleet at max speed to the real broker; report readings/s and peak memory."""

from __future__ import annotations

import asyncio
import cProfile
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from energychain_shared.kafka import delete_topics
from energychain_shared.runtime import preflight
from energychain_shared.settings import REPO_ROOT

from energychain_meter_ingest.bootstrap import OWN_TOPICS, build_replay, open_publisher, resolve_sources
from energychain_meter_ingest.settings import MeterIngestSettings

BENCH_START = date(2021, 7, 1)


def ensure_fleet(data_dir: Path, *, houses: int, days: int, municipalities: int) -> None:
    """Generate the benchmark fleet into ``data_dir`` unless it is there already."""
    if (data_dir / "manifest.json").exists():
        return
    # A child process, so generation does not count towards the replay's peak memory.
    subprocess.run(
        [
            sys.executable, "-c", "from energychain_meter_ingest.cli import main; main()", "generate",
            "--houses", str(houses), "--municipalities", str(municipalities),
            "--start", BENCH_START.isoformat(), "--end", (BENCH_START + timedelta(days=days)).isoformat(),
            "--seed", "7", "--out", str(data_dir),
        ],
        check=True,
    )


def run_bench(settings: MeterIngestSettings, *, houses: int, days: int, municipalities: int,
              data_dir: Path | None, keep_topics: bool, profile: Path | None) -> dict:
    """Generate (or reuse) the fleet, replay it flat out under a throwaway topic prefix, print the figures."""
    data_dir = data_dir or REPO_ROOT / "data" / "generated" / f"bench-{houses}x{days}"
    ensure_fleet(data_dir, houses=houses, days=days, municipalities=municipalities)
    run_dir = Path(tempfile.mkdtemp(prefix="meter-ingest-bench-"))
    bench_settings = settings.model_copy(
        update={
            "topic_prefix": f"bench-{uuid.uuid4().hex[:8]}.",
            "run_dir": run_dir,
            "registry_path": data_dir / "registry.json",
        }
    )
    preflight(bench_settings, database=False)
    sources = resolve_sources(bench_settings, manifest=data_dir / "manifest.json")
    replay = build_replay(bench_settings, sources, replay_id="bench")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def main() -> float:
        async with open_publisher(bench_settings) as publisher:
            started = time.perf_counter()
            await replay.run(publisher, speed=None)
        return time.perf_counter() - started  # includes the final flush (producer stop)

    profiler = cProfile.Profile() if profile else None
    try:
        if profiler:
            profiler.enable()
        elapsed = asyncio.run(main())
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
        if not keep_topics:
            asyncio.run(delete_topics(bench_settings, OWN_TOPICS))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "houses": len(sources),
        "days": days,
        "readings": replay.counters.published,
        "hours": replay.counters.hours,
        "dead_lettered": replay.counters.dead_lettered,
        "seconds": round(elapsed, 2),
        "readings_per_s": round(replay.counters.published / elapsed),
        "peak_rss_mib_before_replay": round(rss_before / 1024, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "cpu_user_s": round(usage.ru_utime, 1),
        "cpu_system_s": round(usage.ru_stime, 1),
    }
    print(json.dumps(result))
    return result
