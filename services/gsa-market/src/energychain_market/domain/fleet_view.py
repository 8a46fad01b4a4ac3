"""What the GSA API serves of the fleet stream: windows summed over partitions, and the open alerts.

Pure: the API's consumer feeds it every FleetWindowUpdated and FleetAlertRaised/Cleared
(`energychain_market.fleet_feed`). A window's totals are the sum, over the partitions of
meter.readings, of each partition's latest update of it (the update with the highest
version); applying an update twice, or an older one after a newer, changes nothing. Windows
that ended more than ``keep_hours`` before the newest window seen are forgotten, so the
view's memory does not grow with the days replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from energychain_market.domain.fleet import HOUR, WINDOW_FIELDS


@dataclass
class WindowView:
    """One window of one municipality, with each partition's latest totals."""

    municipality_id: str
    kind: str
    start: int
    end: int
    local_date: str | None
    parts: dict[int, tuple[int, bool, dict[str, int]]] = field(default_factory=dict)  # partition -> (version, final, totals)

    def totals(self) -> dict[str, int]:
        summed = dict.fromkeys(WINDOW_FIELDS, 0)
        for _version, _final, totals in self.parts.values():
            for name in WINDOW_FIELDS:
                summed[name] += totals.get(name, 0)
        return summed

    @property
    def final(self) -> bool:
        return bool(self.parts) and all(final for _v, final, _t in self.parts.values())


@dataclass(frozen=True)
class OpenAlert:
    alert_id: str
    kind: str
    house_id: str
    municipality_id: str | None
    since: int
    detail: str


class FleetView:
    """The latest windows and the open alerts, from the fleet stream's outputs."""

    def __init__(self, keep_hours: int = 24 * 7) -> None:
        self.keep_hours = keep_hours
        self._windows: dict[tuple[str, str, int], WindowView] = {}
        self._alerts: dict[str, OpenAlert] = {}
        self._cleared: set[str] = set()
        self.newest_end: int | None = None

    def apply_window(self, *, municipality_id: str, kind: str, start: int, end: int, local_date: str | None,
                     partition: int, version: int, final: bool, totals: dict[str, int]) -> None:
        if self.newest_end is not None and end <= self.newest_end - self.keep_hours * HOUR:
            return
        key = (municipality_id, kind, start)
        view = self._windows.get(key)
        if view is None:
            view = self._windows[key] = WindowView(municipality_id, kind, start, end, local_date)
        current = view.parts.get(partition)
        if current is None or version > current[0]:
            view.parts[partition] = (version, final, dict(totals))
        if self.newest_end is None or end > self.newest_end:
            self.newest_end = end
            self._forget_old()

    def _forget_old(self) -> None:
        cutoff = self.newest_end - self.keep_hours * HOUR
        for key in [k for k, v in self._windows.items() if v.end <= cutoff]:
            del self._windows[key]

    def apply_alert(self, alert: OpenAlert | None, *, cleared_id: str | None = None) -> None:
        """A raised alert (``alert``) or a cleared one (``cleared_id``); a clear seen first wins over a late raise."""
        if cleared_id is not None:
            self._alerts.pop(cleared_id, None)
            self._cleared.add(cleared_id)
        elif alert is not None and alert.alert_id not in self._cleared:
            self._alerts[alert.alert_id] = alert

    def windows(self, kind: str, *, municipality_id: str | None = None, since: int | None = None,
                until: int | None = None) -> list[dict]:
        """Each municipality's windows of ``kind`` (newest first), with a ``fleet`` total per window when unscoped."""
        rows = []
        fleet: dict[int, dict] = {}
        for (municipality, window_kind, start), view in self._windows.items():
            if window_kind != kind or (municipality_id is not None and municipality != municipality_id):
                continue
            if (since is not None and view.end <= since) or (until is not None and start >= until):
                continue
            totals = view.totals()
            rows.append({"scope": municipality, "start": start, "end": view.end, "local_date": view.local_date,
                         "final": view.final, **totals})
            if municipality_id is None:
                total = fleet.setdefault(start, {"scope": "fleet", "start": start, "end": view.end,
                                                 "local_date": view.local_date, "final": True,
                                                 **dict.fromkeys(WINDOW_FIELDS, 0)})
                total["end"] = max(total["end"], view.end)
                total["final"] = total["final"] and view.final
                for name in WINDOW_FIELDS:
                    total[name] += totals[name]
        rows.extend(fleet.values())  # a day total sums the municipalities whose local day starts then
        return sorted(rows, key=lambda row: (-row["start"], row["scope"]))

    def open_alerts(self, *, municipality_id: str | None = None) -> list[OpenAlert]:
        alerts = [a for a in self._alerts.values() if municipality_id is None or a.municipality_id == municipality_id]
        return sorted(alerts, key=lambda a: (a.since, a.house_id, a.kind))
