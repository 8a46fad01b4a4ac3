"""The replay's pacing: when, in wall time, a simulated instant is due at a given speed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


def parse_speed(text: str | int | float | Decimal | None) -> Decimal | None:
    """Simulated seconds per wall second; None means as fast as possible ("max" or 0)."""
    if text is None:
        return None
    if isinstance(text, str) and text.strip().lower() in {"max", "0", ""}:
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"speed must be a positive number, 0 or 'max', got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"speed must be a positive number, 0 or 'max', got {text!r}")
    return None if value == 0 else value


@dataclass(frozen=True, slots=True)
class Pacing:
    """Anchors simulated time ``sim_anchor`` (epoch s) to wall time ``wall_anchor`` (monotonic s) at ``speed``."""

    wall_anchor: float
    sim_anchor: int
    speed: Decimal | None

    def wall_due(self, sim_time: int) -> float:
        """Monotonic wall time at which ``sim_time`` is reached (now for max speed)."""
        if self.speed is None:
            return self.wall_anchor
        return self.wall_anchor + (sim_time - self.sim_anchor) / float(self.speed)
