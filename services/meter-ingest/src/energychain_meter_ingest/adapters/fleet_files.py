"""Writes generated meter data in the export's CSV format, plus a registry and a manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from energychain_shared.registry import Registry, load_registry

from energychain_meter_ingest.domain.energy import wh_to_kwh_text
from energychain_meter_ingest.domain.generator import (
    GeneratedHour,
    SiteClimate,
    fleet_municipalities,
    fleet_resident,
    house_spec,
    simulate_house,
    site_hours,
)
from energychain_meter_ingest.domain.readings import HEADER

HEADER_LINE = ",".join(HEADER) + "\r\n"


def write_export(path: Path, hours) -> int:
    """Write one house's generated hours as an export file (CRLF lines like the meters write); returns rows."""
    rows = 0
    kwh = wh_to_kwh_text
    with open(path, "w", newline="", buffering=1 << 20) as handle:
        handle.write(HEADER_LINE)
        for h in hours:
            handle.write(
                f"{h.local_text},{kwh(h.battery_discharged_wh)},{kwh(h.battery_charged_wh)},{kwh(h.solar_wh)},"
                f"{kwh(h.home_wh)},{kwh(h.grid_export_wh)},{kwh(h.grid_import_wh)},{h.battery_level_pct}\r\n"
            )
            rows += 1
    return rows


def _write_manifest(out: Path, files: dict[str, str], **extra) -> None:
    (out / "manifest.json").write_text(json.dumps({"houses": files, **extra}, indent=1) + "\n")


@dataclass(frozen=True)
class FleetSummary:
    """What a generation run wrote."""

    out: Path
    houses: int
    rows: int


def generate_fleet(*, houses: int, municipalities: int, start: date, end: date, seed: int, out: Path,
                   progress=None) -> FleetSummary:
    """N houses over M municipalities for local days [start, end): CSVs, registry.json, manifest.json."""
    if houses < 1 or municipalities < 1 or end <= start:
        raise ValueError("need houses >= 1, municipalities >= 1 and end after start")
    out.mkdir(parents=True, exist_ok=True)
    munis = fleet_municipalities(municipalities)
    climates = {
        m["municipality_id"]: SiteClimate(m["municipality_id"], float(m["latitude"]), ZoneInfo(m["timezone"]))
        for m in munis
    }
    shared_hours = {mid: site_hours(site, start=start, end=end, seed=seed) for mid, site in climates.items()}
    residents, files, rows = [], {}, 0
    for index in range(1, houses + 1):
        municipality_id = munis[(index - 1) % municipalities]["municipality_id"]
        spec = house_spec(house_id=f"house-{index:05d}", municipality_id=municipality_id, seed=seed)
        file_name = f"{spec.house_id}.csv"
        rows += write_export(out / file_name, simulate_house(spec, shared_hours[municipality_id], seed=seed))
        residents.append(fleet_resident(index, municipality_id, spec, start))
        files[spec.house_id] = file_name
        if progress is not None:
            progress(index)
    registry = {"municipalities": munis, "residents": residents}
    Registry.model_validate(registry)  # what downstream services will load must be valid
    (out / "registry.json").write_text(json.dumps(registry, indent=1) + "\n")
    _write_manifest(out, files, registry="registry.json", seed=seed, start=start.isoformat(), end=end.isoformat())
    return FleetSummary(out=out, houses=houses, rows=rows)


# The seed exports' date ranges for the demo houses (inclusive local days).
DEMO_RANGES: dict[str, tuple[date, date]] = {
    "house-01": (date(2021, 6, 27), date(2022, 7, 23)),
    "house-02": (date(2021, 7, 18), date(2022, 7, 23)),
    "house-03": (date(2021, 8, 8), date(2022, 7, 30)),
    "house-r01": (date(2021, 7, 1), date(2022, 7, 1)),
}


def generate_demo(*, registry_path: Path, out: Path, seed: int) -> FleetSummary:
    """Demo exports for the registry's residents, with each resident's battery and reserve from its contract."""
    registry = load_registry(registry_path)
    out.mkdir(parents=True, exist_ok=True)
    files, rows = {}, 0
    for resident in registry.residents:
        first, last = DEMO_RANGES.get(resident.house_id, (resident.contract.start_date, resident.contract.start_date + timedelta(days=365)))
        municipality = registry.by_municipality[resident.municipality_id]
        site = SiteClimate(municipality.municipality_id, float(Decimal(municipality.latitude)), municipality.zone)
        hours = site_hours(site, start=first, end=last + timedelta(days=1), seed=seed)
        spec = house_spec(
            house_id=resident.house_id,
            municipality_id=resident.municipality_id,
            seed=seed,
            battery_wh=resident.contract.battery_wh,
            reserve_wh=resident.contract.reserve_wh,
        )
        file_name = f"{resident.house_id}.csv"
        rows += write_export(out / file_name, simulate_house(spec, hours, seed=seed))
        files[resident.house_id] = file_name
    _write_manifest(out, files, seed=seed)
    return FleetSummary(out=out, houses=len(files), rows=rows)


__all__ = ["FleetSummary", "GeneratedHour", "generate_demo", "generate_fleet", "write_export"]
