"""The replay checkpoint: the last simulated hour whose readings and watermarks the broker acknowledged.

Kept as a small JSON file under EC_RUN_DIR rather than in PostgreSQL: it is one
timestamp per replay, the replay is the clock's single owner, and it spares
meter-ingest a database dependency. It is written atomically (temp file, fsync,
rename) and only after the producer's futures for that hour resolved.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from energychain_meter_ingest.domain.readings import hour_start


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Everything up to and including simulated hour ``last_hour`` (epoch s) is on the broker."""

    replay_id: str
    last_hour: int
    readings_published: int

    @property
    def last_hour_start(self) -> datetime:
        """UTC start of the last fully published hour."""
        return hour_start(self.last_hour)


class CheckpointStore:
    """Reads and atomically replaces one replay's checkpoint file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_replay(cls, run_dir: Path, *, topic_prefix: str, replay_id: str) -> CheckpointStore:
        """The checkpoint file of ``replay_id`` (topic prefix included: each topic set has its own)."""
        return cls(Path(run_dir) / "meter-ingest" / f"checkpoint-{topic_prefix}{replay_id}.json")

    def load(self) -> Checkpoint | None:
        """The stored checkpoint, or None when the replay has not published anything durable yet."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return Checkpoint(
            replay_id=data["replay_id"], last_hour=int(data["last_hour"]), readings_published=int(data["readings_published"])
        )

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint atomically and durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        payload = {
            "replay_id": checkpoint.replay_id,
            "last_hour": checkpoint.last_hour,
            "last_hour_start": checkpoint.last_hour_start.isoformat(),
            "readings_published": checkpoint.readings_published,
        }
        with open(temporary, "w") as handle:
            json.dump(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def clear(self) -> None:
        """Forget the checkpoint (the next replay starts from the beginning)."""
        self.path.unlink(missing_ok=True)
